import { timingSafeEqual } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import { DASHBOARD_PAGE } from './dashboard-page.ts'

/** What the live page shows; the node fills it, the page draws it. */
export interface DashboardState {
  tree: unknown
  asks: unknown[]
  refusals: unknown[]
  transfers: unknown[]
}

export interface DashboardInit {
  listen: { host: string, port: number }
  /** no token in the URL, no page */
  token: string
  state: () => DashboardState
}

export interface Dashboard {
  url: string
  /** Sends an event to every open page at once (`ask`, `refusal`, `transfer`), beside the state it sends every second. */
  publish: (type: 'ask' | 'refusal' | 'transfer', data: unknown) => void
  close: () => Promise<void>
}

const STATE_EVERY_MS = 1_000
const MAX_PAGES = 16

function tokenOk (given: string | null, token: string): boolean {
  if (given === null || given.length !== token.length) return false
  return timingSafeEqual(Buffer.from(given), Buffer.from(token))
}

/**
 * The live page: one HTML document with everything it needs inline (no CDN, nothing beyond the node), and its
 * server-sent events (`/events`) — the state every second, and asks, refusals and transfers as they happen. The
 * browser's EventSource reconnects by itself, so a page left open comes back when the node does.
 */
export async function startDashboard (init: DashboardInit): Promise<Dashboard> {
  const pages = new Set<ServerResponse>()
  const send = (response: ServerResponse, type: string, data: unknown): void => { response.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`) }
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://dashboard')
    if (!tokenOk(url.searchParams.get('token'), init.token)) {
      response.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end('this page needs its token: open the URL `mycroft-mesh dashboard` prints\n')
      return
    }
    if (url.pathname === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'" }).end(DASHBOARD_PAGE)
      return
    }
    if (url.pathname === '/events') {
      if (pages.size >= MAX_PAGES) {
        response.writeHead(503, { 'content-type': 'text/plain' }).end(`at most ${MAX_PAGES} pages at once\n`)
        return
      }
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
      response.write('retry: 1000\n\n')
      pages.add(response)
      send(response, 'state', init.state())
      request.on('close', () => { pages.delete(response) })
      return
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not here\n')
  })
  const timer = setInterval(() => {
    if (pages.size === 0) return
    const state = init.state()
    for (const page of pages) send(page, 'state', state)
  }, STATE_EVERY_MS)
  timer.unref()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.listen.port, init.listen.host, () => { resolve() })
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : init.listen.port
  const host = init.listen.host.includes(':') ? `[${init.listen.host}]` : init.listen.host
  return {
    url: `http://${host}:${port}/?token=${init.token}`,
    publish: (type, data) => { for (const page of pages) send(page, type, data) },
    close: async () => {
      clearInterval(timer)
      for (const page of pages) page.end()
      await new Promise<void>(resolve => {
        server.close(() => { resolve() })
        server.closeAllConnections()
      })
    }
  }
}
