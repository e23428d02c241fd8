import { createServer, type Server } from 'node:http'
import type { Registry } from 'prom-client'
import type { FigureRegistry } from './registry.ts'

/** `asksSent` in section `asks` → `mycroft_mesh_asks_asks_sent` (counters get `_total` on top, as Prometheus names them). */
export function metricName (section: string, name: string): string {
  const snake = (text: string): string => text.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9]+/g, '_').toLowerCase()
  return `mycroft_mesh_${snake(section)}_${snake(name)}`
}

export interface MetricsServer {
  url: string
  /** One question's time, by hop (`asked`: this node's own, up to its parent; `answered`: a child's) and outcome. */
  observeAsk: (hop: 'asked' | 'answered', outcome: string, seconds: number) => void
  close: () => Promise<void>
}

/** Seconds: a hop on a LAN is milliseconds, a question a heavy skill answers takes seconds. */
const ASK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/**
 * Puts every figure of the node's registry into `registry` (one per node, never prom-client's global one) as
 * counters and gauges read at each scrape, and serves the lot at `http://HOST:PORT/metrics`.
 */
export async function startMetricsServer (figures: FigureRegistry, registry: Registry, listen: { host: string, port: number }): Promise<MetricsServer> {
  // loaded here: a node without a metrics endpoint should not carry prom-client
  const { Counter, Gauge, Histogram } = (await import('prom-client')).default
  const askDuration = new Histogram({
    name: 'mycroft_mesh_ask_duration_seconds',
    help: 'how long a question took from this node, by hop (asked: its own, up to its parent; answered: a child\'s) and outcome',
    labelNames: ['hop', 'outcome'],
    buckets: ASK_BUCKETS,
    registers: [registry]
  })
  for (const figure of figures.describe()) {
    const name = metricName(figure.section, figure.name)
    if (figure.kind === 'reading') {
      new Gauge({ name, help: figure.help, registers: [registry], collect () { this.set(figure.read() as number) } })
    } else {
      new Counter({
        name: `${name}_total`,
        help: figure.help,
        labelNames: figure.kind === 'labelled' ? ['code'] : [],
        registers: [registry],
        collect () {
          this.reset()
          const value = figure.read()
          if (typeof value === 'number') this.inc(value)
          else for (const [code, count] of Object.entries(value)) this.inc({ code }, count)
        }
      })
    }
  }
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('only /metrics is served here\n')
      return
    }
    registry.metrics().then(text => {
      response.writeHead(200, { 'content-type': registry.contentType }).end(text)
    }, (err: unknown) => {
      response.writeHead(500, { 'content-type': 'text/plain' }).end(`the metrics could not be read: ${err instanceof Error ? err.message : String(err)}\n`)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => { resolve() })
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : listen.port
  return {
    url: `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}/metrics`,
    observeAsk: (hop, outcome, seconds) => { askDuration.observe({ hop, outcome }, seconds) },
    close: async () => new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() })
  }
}
