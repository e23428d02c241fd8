/**
 * A swarm of lightweight children in one process, for the hub-capacity benchmark (scripts/bench/hub-capacity.ts).
 *
 * Each child is its own libp2p node, built like a real node minus what a child with no children of its own
 * does not need: its own Ed25519 key, TCP (no listen address), noise, yamux, identify (answering, and, as a real
 * node, not asking its hub on every connection) and ping, and the link service from src/routing.
 * Each child links to the hub with `linkToParent`, then proves the link with one round trip over it: a link
 * `ping`, whose `pong` sets the session's `rttMs`. (`session.request('ping')` cannot be used: link-session.ts
 * consumes a `pong` before it looks for a waiting request, so such a request would only time out.)
 *
 *   node scripts/bench/child-swarm.ts --hub MULTIADDR --count N [--prefix NAME] [--concurrency 32]
 *        [--heartbeat-ms 5000] [--timeout-ms 5000] [--log-level warn]
 *
 * Protocol, one JSON object per line on stdout:
 *   {"event":"ready","count":N,"createMs":…,"rssBytes":…}          every node is created and started
 *   (the swarm then waits for a line `go` on stdin, so that node creation is not part of the timing)
 *   {"event":"linked","i":…,"peerId":…,"dialAt":…,"provenAt":…,"linkMs":…,"rttMs":…,"attempt":…}   times: ms since epoch
 *   {"event":"retry","i":…,"peerId":…,"dialAt":…,"attempt":…,"error":…}   an attempt failed; the child tries again
  {"event":"failed","i":…,"peerId":…,"dialAt":…,"attempt":…,"error":…} the last attempt failed
 *   {"event":"done","linked":…,"failed":…,"firstDialAt":…,"lastProvenAt":…,"rssBytes":…,"heapUsedBytes":…}
 *   {"event":"unlinked","i":…,"peerId":…,"reason":…}                   a proven link closed while the swarm runs
 * Dials run with bounded concurrency (`--concurrency` at a time), so the hub sees bursts rather than a wall.
 * Each attempt has the 5 s limit a real node's parent link gives one; like a real node, a child that failed tries
 * again after the node's default reconnect backoff, up to `--attempts` times, and every failed attempt is
 * reported. The swarm stays alive until stdin closes or SIGTERM, then stops every node.
 */
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import { pino } from 'pino'
import { backoffDelay, sleep } from '../../src/common/index.ts'
import { createMeshLibp2p, defaultConfig } from '../../src/node/index.ts'
import { FigureRegistry } from '../../src/observe/index.ts'
import { link, type Link, type ParentLinkSession } from '../../src/routing/index.ts'
import { waitFor } from '../../support/wait.ts'

const { values } = parseArgs({
  options: {
    hub: { type: 'string' },
    count: { type: 'string' },
    prefix: { type: 'string', default: 'swarm' },
    concurrency: { type: 'string', default: '32' },
    'heartbeat-ms': { type: 'string', default: '5000' },
    'timeout-ms': { type: 'string', default: '5000' },
    attempts: { type: 'string', default: '5' },
    'log-level': { type: 'string', default: 'warn' }
  }
})

function whole (name: string, text: string | undefined): number {
  const value = Number(text)
  if (text === undefined || !Number.isInteger(value) || value < 0) {
    process.stderr.write(`child-swarm: --${name} must be a whole number, got ${String(text)}\n`)
    process.exit(2)
  }
  return value
}

if (values.hub === undefined) {
  process.stderr.write('child-swarm: --hub MULTIADDR is required\n')
  process.exit(2)
}
const hub = multiaddr(values.hub)
const count = whole('count', values.count)
const concurrency = Math.max(1, whole('concurrency', values.concurrency))
const heartbeatMs = whole('heartbeat-ms', values['heartbeat-ms'])
const timeoutMs = whole('timeout-ms', values['timeout-ms'])
const attempts = Math.max(1, whole('attempts', values.attempts))
const prefix = values.prefix

const log = pino({ level: values['log-level'], base: { swarm: prefix } }, pino.destination({ fd: 2, sync: false }))
const now = (): number => performance.timeOrigin + performance.now()
const emit = (event: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify(event)}\n`) }

type Child = Libp2p<{ link: Link, identify: unknown, ping: unknown }>

async function createChild (i: number): Promise<Child> {
  return createMeshLibp2p({
    log,
    heartbeatMs,
    privateKey: await generateKeyPair('Ed25519'),
    muxers: ['yamux'],
    services: {
      identify: identify({ runOnConnectionOpen: false }),
      ping: ping(),
      link: link({ self: { name: `${prefix}-${i}`, version: 'bench' }, log, figures: new FigureRegistry(), heartbeatMs })
    }
  })
}

let stopping = false
const children: Child[] = []

async function stopAll (): Promise<void> {
  if (stopping) return
  stopping = true
  const deadline = new Promise(resolve => setTimeout(resolve, 15_000).unref())
  await Promise.race([
    Promise.allSettled(children.map(async child => child.stop())),
    deadline
  ])
  process.exit(0)
}
process.on('SIGTERM', () => { void stopAll() })
process.on('SIGINT', () => { void stopAll() })
// stdin flows from the start: a line `go` starts the dials, its end (the benchmark went away) stops the swarm
let sayGo = (): void => {}
const goAhead = new Promise<void>(resolve => { sayGo = resolve })
let stdinText = ''
process.stdin.on('data', (chunk: Buffer) => {
  stdinText = (stdinText + chunk.toString('utf8')).slice(-64)
  if (stdinText.split('\n').some(line => line.trim() === 'go')) sayGo()
})
process.stdin.on('end', () => { void stopAll() })
process.stdin.on('close', () => { void stopAll() })

/** Dials the hub, says hello, then waits for one ping/pong round trip over the new link. */
async function linkOne (i: number, attempt: number): Promise<boolean> {
  const child = children[i]
  if (child === undefined) throw new Error(`no child ${i}`)
  const peerId = child.peerId.toString()
  const dialAt = now()
  let parent: ParentLinkSession | undefined
  try {
    const signal = AbortSignal.timeout(timeoutMs)
    parent = await child.services.link.linkToParent([hub], { signal })
    const linkedAt = now()
    const session = parent.session
    await session.send('ping', { t: performance.now() })
    await waitFor(`the hub's pong to ${prefix}-${i}`, () => {
      if (!session.isOpen) throw new Error(`link closed before the pong: ${session.closeReason ?? '?'}`)
      return session.rttMs !== undefined
    }, { timeoutMs: Math.max(1, dialAt + timeoutMs - now()), intervalMs: 5 })
    const provenAt = now()
    void session.closed.then(reason => { if (!stopping) emit({ event: 'unlinked', i, peerId, reason }) })
    emit({ event: 'linked', i, peerId, dialAt, provenAt, linkMs: linkedAt - dialAt, rttMs: session.rttMs, attempt })
    return true
  } catch (err) {
    // a link that could not prove itself in time counts as failed: do not leave it open on the hub
    parent?.session.abort('no proof of the link in time')
    emit({ event: attempt < attempts ? 'retry' : 'failed', i, peerId, dialAt, attempt, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) })
    return false
  }
}

async function main (): Promise<void> {
  const createStarted = now()
  for (let i = 0; i < count; i++) children.push(await createChild(i))
  emit({ event: 'ready', count, createMs: Math.round(now() - createStarted), rssBytes: process.memoryUsage.rss() })

  // wait for the go-ahead: the benchmark starts the clock when every swarm is ready
  await goAhead
  let next = 0
  let linked = 0
  let failed = 0
  let firstDialAt = Infinity
  let lastProvenAt = 0
  const worker = async (): Promise<void> => {
    while (!stopping) {
      const i = next++
      if (i >= count) return
      firstDialAt = Math.min(firstDialAt, now())
      let attempt = 1
      let isLinked = await linkOne(i, attempt)
      while (!isLinked && attempt < attempts && !stopping) {
        await sleep(backoffDelay(attempt - 1, defaultConfig().reconnect))
        isLinked = await linkOne(i, ++attempt)
      }
      if (isLinked) {
        linked++
        lastProvenAt = Math.max(lastProvenAt, now())
      } else {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  const memory = process.memoryUsage()
  emit({ event: 'done', linked, failed, firstDialAt, lastProvenAt, rssBytes: memory.rss, heapUsedBytes: memory.heapUsed })
  // stay alive, holding every link, until stdin closes or SIGTERM
}

main().catch(err => {
  process.stderr.write(`child-swarm failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
