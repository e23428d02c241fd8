/**
 * Hub capacity: how many children one real hub holds, and what each costs it in memory.
 *
 * What it runs, all on loopback:
 * - ONE real hub: a `mycroft-mesh start` process (support/node-process.ts) in open (lab) mode, no bus,
 *   listening on 127.0.0.1 port 0, with the realistic 5 s heartbeat (not the helpers' 500 ms test default).
 *   Every child comes from 127.0.0.1, so the hub's config raises the per-address limits a house hub would
 *   never hit: `maxInboundPerIpPerSecond` (default 20 new connections per second per address) to the child
 *   count, and `maxConnections` (default 4,096) to twice the child count plus headroom (strangers hold half).
 * - `processes` swarm processes (scripts/bench/child-swarm.ts), sharing out `children` lightweight children:
 *   each its own libp2p node (own Ed25519 key, TCP, noise, yamux, identify, ping, the link service). Each swarm
 *   first creates all its nodes, then, when every swarm is ready, dials (128 in flight across the swarms): `linkToParent`, then one
 *   ping/pong round trip over the link as proof.
 *
 * What it reports:
 * - `connect_all_s`: from the first dial (of any swarm) to the last child proven linked.
 * - `children_held`: children the hub's `status` lists as linked AND that proved their link (and have not
 *   lost it since), checked after the hub has run a full heartbeat interval with all of them.
 * - `hub_rss_mb` / `hub_heap_mb`: the hub's `status().process` with every child linked; `rss_per_child_kb` and
 *   `heap_per_child_kb`: (with children − before children) / children held.
 *   "Before" is sampled once the idle hub has settled, "with children" once the burst of links settled (the
 *   node collects its garbage then: src/node/after-bursts.ts) and the idle window passed; each is the
 *   minimum over 5 samples a second apart. The samples do not make it collect, so heapUsed includes the garbage
 *   V8 has not collected since: the minimum over
 *   samples (taken across heartbeats, which drive scavenges and incremental marking) is the closest to a
 *   post-GC figure that sampling gets, an upper bound on the live heap. RSS, too, is what the OS reports,
 *   including pages V8 and the allocator keep after freeing them. This is what the hub's owner would see.
 *   Beside them (`rss_per_child_gc_kb`, `heap_per_child_gc_kb`): the hub is started with `--inspect=127.0.0.1:0` (loopback,
 *   random port), and after each set of samples a full GC is forced through the inspector
 *   (`HeapProfiler.collectGarbage`, twice): the per-child figures after it are the live cost.
 * - `held_cpu_percent`: the hub's CPU (share of one core) while it holds every child, idle, once the burst of
 *   links has settled, over a window that holds each child's quiet ping once (IDLE_WINDOW_MS; the idle hub's
 *   before them is logged).
 *
 * - `first_attempt_linked`: children linked at their first attempt. Each attempt has the 5 s limit a real node's
 *   parent link gives one; like a real node, a child whose attempt failed tries again after the node's default
 *   reconnect backoff (up to 5 attempts). On two cores the swarms themselves take most of the CPU while they
 *   dial, so the hub is starved far more than by children on machines of their own.
 * Failed attempts are counted with their reasons. The hub's own log lines at warn and above are summarised.
 * Progress, the per-child connect times (p50/p95/max), the hub's warnings, failures by reason, the peak RSS
 * of the hub (VmHWM) and the machine's peak memory in use go to `options.log`. Every process is stopped at
 * the end, even on failure.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebSocket } from 'ws'
import { NodeProcess, type MeshStatus } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'
import { QUIET_BEATS } from '../../src/routing/index.ts'

export interface HubCapacityOptions {
  children: number
  processes: number
  log: (line: string) => void
}

export interface HubCapacityResult {
  children_held: number
  /** the same after a forced full GC: the live cost */
  rss_per_child_gc_kb: number
  heap_per_child_gc_kb: number
  /** the hub's CPU holding every child, idle but for heartbeats, in percent of one core */
  held_cpu_percent: number
  rss_per_child_kb: number
  heap_per_child_kb: number
  connect_all_s: number
  first_attempt_linked: number
  hub_rss_mb: number
  hub_heap_mb: number
}

const SWARM = fileURLToPath(new URL('./child-swarm.ts', import.meta.url))
/** the realistic default, not the 500 ms of the test helpers */
const HEARTBEAT_MS = 5_000
/**
 * The idle hub's CPU is measured over a window that holds every child's quiet ping once (a child of an idle link
 * pings once in QUIET_BEATS intervals), so that it is the cost of an idle hour, not of a lucky few seconds.
 */
const IDLE_WINDOW_MS = (QUIET_BEATS + 2) * HEARTBEAT_MS
/**
 * Dials in flight, shared out over the swarm processes: the hub's handshakes set the pace, and more in flight than
 * it finishes within an attempt's 5 s only time out and come back (192 at 3,000 children: a third failed).
 */
const DIALS_IN_FLIGHT = 128
/** libp2p's `maxIncomingPendingConnections`, fixed by src/node/mesh-node.ts */
const HUB_MAX_PENDING = 256
const SAMPLES = 5
/** src/node/after-bursts.ts collects 5 s after a burst of links ends; a little more for the collection itself */
const SETTLE_MS = 8_000
const SAMPLE_INTERVAL_MS = 1_000

const MB = 1024 * 1024
const round1 = (value: number): number => Math.round(value * 10) / 10
const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** true once `work` is done, false if `ms` passed first; the timer never outlives it (nor keeps the runner alive) */
async function within (work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<boolean>(resolve => { timer = setTimeout(() => { resolve(false) }, ms) })
  try {
    return await Promise.race([work.then(() => true), deadline])
  } finally {
    clearTimeout(timer)
  }
}

interface LinkedEvent { event: 'linked', i: number, peerId: string, dialAt: number, provenAt: number, linkMs: number, rttMs: number, attempt: number }
/** `retry`: an attempt failed and the child tries again; `failed`: its last attempt failed */
interface FailedEvent { event: 'failed' | 'retry', i: number, peerId: string, dialAt: number, attempt: number, error: string }
interface DoneEvent { event: 'done', linked: number, failed: number, firstDialAt: number, lastProvenAt: number, rssBytes: number, heapUsedBytes: number }
interface ReadyEvent { event: 'ready', count: number, createMs: number, rssBytes: number }
interface UnlinkedEvent { event: 'unlinked', i: number, peerId: string, reason: string }
type SwarmEvent = LinkedEvent | FailedEvent | DoneEvent | ReadyEvent | UnlinkedEvent

/** One child-swarm.ts process and what it has reported so far. */
class Swarm {
  readonly name: string
  readonly count: number
  readonly linked: LinkedEvent[] = []
  readonly failed: FailedEvent[] = []
  readonly retried: FailedEvent[] = []
  readonly unlinked: UnlinkedEvent[] = []
  ready?: ReadyEvent
  done?: DoneEvent
  stderrTail = ''
  exitCode: number | null | undefined
  private readonly proc: ChildProcess
  private readonly exited: Promise<void>

  constructor (name: string, count: number, hubAddr: string, concurrency: number, onEvent: (event: SwarmEvent) => void) {
    this.name = name
    this.count = count
    this.proc = spawn(process.execPath, [SWARM, '--hub', hubAddr, '--count', String(count), '--prefix', name,
      '--concurrency', String(concurrency), '--heartbeat-ms', String(HEARTBEAT_MS)], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.exited = new Promise(resolve => this.proc.once('exit', code => { this.exitCode = code; resolve() }))
    let pending = ''
    this.proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        if (line.trim() === '') continue
        let event: SwarmEvent
        try {
          event = JSON.parse(line) as SwarmEvent
        } catch {
          this.stderrTail = `${this.stderrTail}\n(stdout) ${line}`.slice(-4_000)
          continue
        }
        switch (event.event) {
          case 'ready': this.ready = event; break
          case 'linked': this.linked.push(event); break
          case 'failed': this.failed.push(event); break
          case 'retry': this.retried.push(event); break
          case 'done': this.done = event; break
          case 'unlinked': this.unlinked.push(event); break
        }
        onEvent(event)
      }
    })
    this.proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => { this.stderrTail = (this.stderrTail + chunk).slice(-4_000) })
    this.proc.stdin?.on('error', () => {}) // the swarm may be gone already when we say go or hang up
  }

  get pid (): number | undefined {
    return this.proc.pid
  }

  get running (): boolean {
    return this.exitCode === undefined
  }

  go (): void {
    this.proc.stdin?.write('go\n')
  }

  /** Closes its stdin (it stops its nodes and exits); SIGKILL if it has not exited within the deadline. */
  async stop (timeoutMs = 20_000): Promise<void> {
    if (!this.running) return
    this.proc.stdin?.end()
    const timer = setTimeout(() => { this.proc.kill('SIGKILL') }, timeoutMs)
    await this.exited
    clearTimeout(timer)
  }

  describe (): string {
    return `${this.name} (exit ${String(this.exitCode)}): ${this.stderrTail.slice(-1_000)}`
  }
}

/** Memory in use on the machine (MemTotal − MemAvailable), in bytes. */
async function machineMemoryInUse (): Promise<number> {
  const text = await readFile('/proc/meminfo', 'utf8')
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN)
  return (kb('MemTotal') - kb('MemAvailable')) * 1024
}

/** A field of /proc/PID/status in bytes (VmRSS, VmHWM), or NaN when it cannot be read. */
async function procStatusBytes (pid: number | undefined, field: string): Promise<number> {
  if (pid === undefined) return NaN
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024
}

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))] ?? NaN
}

/** CPU time (user + system) a process has used so far, in seconds; NaN when it cannot be read. */
async function cpuSeconds (pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // clock ticks: USER_HZ is 100 on Linux
}

/** Forces full garbage collections in the hub through its inspector (started with --inspect=127.0.0.1:0). */
async function forceGc (hub: NodeProcess): Promise<void> {
  // the last one: `start` becomes itself again with its V8 flags (bin/mycroft-mesh.js), and listens anew
  const url = [...hub.stderr.matchAll(/Debugger listening on (ws:\/\/\S+)/g)].pop()?.[1]
  if (url === undefined) throw new Error('the hub has no inspector address in its stderr')
  const ws = new WebSocket(url)
  try {
    await new Promise<void>((resolve, reject) => { ws.once('open', () => { resolve() }); ws.once('error', reject) })
    const answered = new Set<number>()
    ws.on('message', (data, isBinary) => {
      if (isBinary || !Buffer.isBuffer(data)) return
      const id = (JSON.parse(data.toString('utf8')) as { id?: number }).id
      if (id !== undefined) answered.add(id)
    })
    for (let id = 1; id <= 2; id++) {
      ws.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }))
      await waitFor(`the hub's inspector to finish GC ${id}`, () => answered.has(id), { timeoutMs: 30_000, intervalMs: 20 })
    }
  } finally {
    ws.close() // a client still attached would keep the hub waiting at exit
  }
}

/** The hub's status after a forced GC, or undefined (logged) when that failed. */
async function statusAfterGc (hub: NodeProcess, log: (line: string) => void): Promise<MeshStatus | undefined> {
  try {
    await forceGc(hub)
    return await waitFor('the hub to answer status', async () => hub.status(), { timeoutMs: 60_000, intervalMs: 500 })
  } catch (err) {
    log(`hub-capacity: could not force a GC in the hub: ${err instanceof Error ? err.message : String(err)}`)
    return undefined
  }
}

/** Several status samples a second apart: the minimum RSS and heap, and the last status. */
async function sampleHub (hub: NodeProcess): Promise<{ rss: number, heap: number, last: MeshStatus }> {
  let rss = Infinity
  let heap = Infinity
  let last: MeshStatus | undefined
  for (let n = 0; n < SAMPLES; n++) {
    if (n > 0) await sleep(SAMPLE_INTERVAL_MS)
    // a hub busy with thousands of links may miss the control socket's 5 s limit: ask again rather than give up
    last = await waitFor('the hub to answer status', async () => hub.status(), { timeoutMs: 60_000, intervalMs: 500 })
    rss = Math.min(rss, last.process.rssBytes)
    heap = Math.min(heap, last.process.heapUsedBytes)
  }
  if (last === undefined) throw new Error('no status sample')
  return { rss, heap, last }
}

/** `concurrency`: dials in flight per swarm process (all of a swarm's children at once, to time a burst of links). */
export async function benchHubCapacity (options: { children: number, processes: number, concurrency?: number, log: (line: string) => void }): Promise<HubCapacityResult> {
  const { log } = options
  const children = Math.max(1, Math.floor(options.children))
  const processes = Math.max(1, Math.min(Math.floor(options.processes), children))
  const concurrency = options.concurrency ?? Math.ceil(DIALS_IN_FLIGHT / options.processes)
  const started = Date.now()
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`

  // the machine's memory in use, sampled throughout
  const loadBefore = loadavg().map(load => load.toFixed(2)).join(' ')
  const machineBefore = await machineMemoryInUse()
  let machinePeak = machineBefore
  const machineTimer = setInterval(() => {
    void machineMemoryInUse().then(used => { machinePeak = Math.max(machinePeak, used) }, () => {})
  }, 500)

  const home = await mkdtemp(join(tmpdir(), 'mmb-hub-'))
  // the children link in open (lab) mode, as peers the hub has never met: strangers, who may hold only half of
  // the connection slots (src/access), so that a crowd of them cannot keep a house's own nodes out
  const maxConnections = Math.max(4_096, 2 * (children + 256))
  const maxInboundPerIpPerSecond = Math.max(1_000, children)
  const hub = new NodeProcess({
    home,
    name: 'hub',
    listen: '/ip4/127.0.0.1/tcp/0',
    heartbeatMs: HEARTBEAT_MS,
    bus: 'none',
    open: true,
    config: { maxConnections, maxInboundPerIpPerSecond }
  })
  const swarms: Swarm[] = []
  try {
    log(`hub-capacity: ${children} children in ${processes} swarm processes, ${concurrency} dials in flight per process; ` +
      `hub config raised for a single source address: maxConnections ${maxConnections}, maxInboundPerIpPerSecond ${maxInboundPerIpPerSecond} ` +
      `(every child dials from 127.0.0.1); heartbeat ${HEARTBEAT_MS} ms`)
    if (processes * concurrency > HUB_MAX_PENDING) {
      log(`hub-capacity: warning: ${processes * concurrency} dials in flight exceed the hub's maxIncomingPendingConnections (${HUB_MAX_PENDING}); expect refusals`)
    }
    // the inspector (loopback, random port) is only there to force a GC for the logged live-cost figure
    const nodeOptions = process.env.NODE_OPTIONS
    process.env.NODE_OPTIONS = `${nodeOptions ?? ''} --inspect=127.0.0.1:0`.trim()
    try {
      await hub.start()
    } finally {
      if (nodeOptions === undefined) delete process.env.NODE_OPTIONS
      else process.env.NODE_OPTIONS = nodeOptions
    }
    const hubAddr = await hub.addr()

    // the swarms create their nodes while the idle hub settles
    let settled = 0
    let nextMark = 1
    const onEvent = (event: SwarmEvent): void => {
      if (event.event !== 'linked' && event.event !== 'failed') return
      settled++
      while (settled >= Math.ceil(children * nextMark / 10) && nextMark <= 10) {
        const linked = swarms.reduce((sum, swarm) => sum + swarm.linked.length, 0)
        log(`hub-capacity: ${nextMark * 10}% dialled: ${linked} linked, ${settled - linked} failed (${elapsed()})`)
        nextMark++
      }
    }
    for (let k = 0; k < processes; k++) {
      const count = Math.floor(children / processes) + (k < children % processes ? 1 : 0)
      swarms.push(new Swarm(`s${k}`, count, hubAddr, concurrency, onEvent))
    }

    await sleep(3_000)
    const idleCpuFrom = await cpuSeconds(hub.pid)
    const before = await sampleHub(hub)
    const idleCpu = (await cpuSeconds(hub.pid) - idleCpuFrom) / ((SAMPLES - 1) * SAMPLE_INTERVAL_MS / 1000)
    const beforeGc = await statusAfterGc(hub, log)
    log(`hub-capacity: idle hub: rss ${round1(before.rss / MB)} MB, heap ${round1(before.heap / MB)} MB (minimum of ${SAMPLES} samples); ` +
      `after a forced GC: rss ${round1((beforeGc?.process.rssBytes ?? NaN) / MB)} MB, heap ${round1((beforeGc?.process.heapUsedBytes ?? NaN) / MB)} MB; cpu ${Math.round(idleCpu * 100)}%`)

    await waitFor('every swarm to create its nodes', () => {
      const dead = swarms.find(swarm => !swarm.running)
      if (dead !== undefined) throw new Error(`swarm ${dead.describe()}`)
      return swarms.every(swarm => swarm.ready !== undefined)
    }, { timeoutMs: 60_000 + 20 * children, intervalMs: 100 })
    const swarmRss = swarms.reduce((sum, swarm) => sum + (swarm.ready?.rssBytes ?? 0), 0)
    log(`hub-capacity: swarms ready (${round1(swarmRss / MB)} MB RSS together) at ${elapsed()}; dialling`)

    const linkStarted = Date.now()
    for (const swarm of swarms) swarm.go()
    await waitFor('every swarm to finish dialling', () => {
      const dead = swarms.find(swarm => !swarm.running && swarm.done === undefined)
      if (dead !== undefined) throw new Error(`swarm ${dead.describe()}`)
      return swarms.every(swarm => swarm.done !== undefined)
    }, { timeoutMs: 60_000 + 100 * children, intervalMs: 100 })
    const linkWallS = (Date.now() - linkStarted) / 1000

    const linked = swarms.flatMap(swarm => swarm.linked)
    const failed = swarms.flatMap(swarm => swarm.failed)
    const retried = swarms.flatMap(swarm => swarm.retried)
    const firstDialAt = Math.min(...swarms.map(swarm => swarm.done?.firstDialAt ?? Infinity))
    const lastProvenAt = Math.max(0, ...linked.map(event => event.provenAt))
    const connectAllS = linked.length === 0 ? NaN : (lastProvenAt - firstDialAt) / 1000
    const times = linked.map(event => event.provenAt - event.dialAt).sort((a, b) => a - b)
    log(`hub-capacity: ${linked.length}/${children} proven linked, ${failed.length} failed, in ${connectAllS.toFixed(2)} s ` +
      `(per child, dial to proof: p50 ${percentile(times, 50).toFixed(0)} ms, p95 ${percentile(times, 95).toFixed(0)} ms, max ${percentile(times, 100).toFixed(0)} ms; wall ${linkWallS.toFixed(1)} s)`)
    const firstTry = linked.filter(event => event.attempt === 1).length
    log(`hub-capacity: ${firstTry} linked at the first attempt, ${linked.length - firstTry} after retrying (${retried.length} failed attempts were retried)`)
    const reasons = new Map<string, number>()
    for (const event of [...failed, ...retried]) {
      const reason = `${event.event === 'retry' ? 'retried' : 'failed'}: ${event.error}`
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
    }
    for (const [reason, n] of [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 8)) log(`hub-capacity: ×${n} ${reason}`)

    // the burst settles (the hub collects its garbage SETTLE_MS after the last link), then the idle window with
    // every child: the CPU over it, then the samples
    await sleep(SETTLE_MS)
    log(`hub-capacity: measuring the idle hub's CPU over ${IDLE_WINDOW_MS / 1000} s, long enough for every child's quiet ping`)
    const heldCpuFrom = await cpuSeconds(hub.pid)
    const heldFrom = Date.now()
    await sleep(IDLE_WINDOW_MS)
    const heldCpu = (await cpuSeconds(hub.pid) - heldCpuFrom) / ((Date.now() - heldFrom) / 1000)
    const after = await sampleHub(hub)
    const afterGc = await statusAfterGc(hub, log)
    const listed = new Set(after.last.children.map(child => child.peerId))
    const unlinked = new Set(swarms.flatMap(swarm => swarm.unlinked.map(event => event.peerId)))
    const held = linked.filter(event => listed.has(event.peerId) && !unlinked.has(event.peerId)).length
    const ghosts = after.last.children.length - linked.filter(event => listed.has(event.peerId)).length
    if (ghosts > 0) log(`hub-capacity: the hub lists ${ghosts} children that never proved their link (they gave up during the handshake)`)
    if (unlinked.size > 0) {
      const reasons = new Map<string, number>()
      for (const event of swarms.flatMap(swarm => swarm.unlinked)) reasons.set(event.reason, (reasons.get(event.reason) ?? 0) + 1)
      for (const [reason, n] of reasons) log(`hub-capacity: a proven link dropped ×${n}: ${reason}`)
    }
    const perChild = Math.max(1, held)
    const perChildAfterGc = (field: 'rssBytes' | 'heapUsedBytes'): number => beforeGc === undefined || afterGc === undefined
      ? Number.NaN
      : round1((afterGc.process[field] - beforeGc.process[field]) / perChild / 1024)
    const result: HubCapacityResult = {
      children_held: held,
      rss_per_child_gc_kb: perChildAfterGc('rssBytes'),
      heap_per_child_gc_kb: perChildAfterGc('heapUsedBytes'),
      held_cpu_percent: round1(heldCpu * 100),
      rss_per_child_kb: round1((after.rss - before.rss) / perChild / 1024),
      heap_per_child_kb: round1((after.heap - before.heap) / perChild / 1024),
      connect_all_s: Math.round(connectAllS * 100) / 100,
      first_attempt_linked: firstTry,
      hub_rss_mb: round1(after.rss / MB),
      hub_heap_mb: round1(after.heap / MB)
    }
    const hubPeak = await procStatusBytes(hub.pid, 'VmHWM')
    const swarmsNow = await Promise.all(swarms.map(async swarm => procStatusBytes(swarm.pid, 'VmRSS')))
    log(`hub-capacity: hub lists ${after.last.children.length} children; held ${held}; hub rss ${result.hub_rss_mb} MB (peak ${round1(hubPeak / MB)} MB), ` +
      `heap ${result.hub_heap_mb} MB; per child ${result.rss_per_child_kb} KB RSS, ${result.heap_per_child_kb} KB heap; ` +
      `swarms ${round1(swarmsNow.reduce((a, b) => a + b, 0) / MB)} MB RSS together`)
    if (beforeGc !== undefined && afterGc !== undefined) {
      log(`hub-capacity: after a forced GC (live cost): hub rss ${round1(afterGc.process.rssBytes / MB)} MB, heap ${round1(afterGc.process.heapUsedBytes / MB)} MB; ` +
        `per child ${result.rss_per_child_gc_kb} KB RSS, ${result.heap_per_child_gc_kb} KB heap`)
    }
    log(`hub-capacity: hub cpu holding ${held} idle children, after they settled: ${round1(heldCpu * 100)}% of one core, over ${(IDLE_WINDOW_MS / 1000).toFixed(0)} s`)

    // the hub's warnings and errors, by message and reason
    const warnings = new Map<string, number>()
    for (const line of hub.logs) {
      if (line.level < 40) continue
      const err = line.err as { message?: string } | undefined
      const why = err?.message ?? (typeof line.reason === 'string' ? line.reason : undefined)
      const key = `${line.msg}${why === undefined ? '' : ` (${why})`}`.replace(/12D3Koo\w+/g, '<peer>')
      warnings.set(key, (warnings.get(key) ?? 0) + 1)
    }
    for (const [msg, n] of [...warnings].sort((a, b) => b[1] - a[1]).slice(0, 8)) log(`hub-capacity: hub log level>=warn ×${n}: ${msg}`)
    const refused = after.last.access
    if (refused.refusedConnections > 0 || Object.keys(refused.refusedLinks).length > 0) {
      log(`hub-capacity: hub refused ${refused.refusedConnections} connections (gater) and links ${JSON.stringify(refused.refusedLinks)}`)
    }
    log(`hub-capacity: machine memory in use: ${round1(machineBefore / MB)} MB before, peak ${round1(machinePeak / MB)} MB; ` +
      `load average ${loadBefore} before, ${loadavg().map(load => load.toFixed(2)).join(' ')} now (${availableParallelism()} cores); total ${elapsed()}`)
    return result
  } finally {
    clearInterval(machineTimer)
    const cleanupFrom = Date.now()
    await Promise.all(swarms.map(async swarm => swarm.stop()))
    const swarmsStoppedS = (Date.now() - cleanupFrom) / 1000
    const stopped = await within(hub.stop(), 20_000)
    if (!stopped) await hub.kill()
    await rm(home, { recursive: true, force: true })
    log(`hub-capacity: cleaned up in ${((Date.now() - cleanupFrom) / 1000).toFixed(1)} s (swarms ${swarmsStoppedS.toFixed(1)} s, hub ${stopped ? 'stopped' : 'killed after 20 s'})`)
  }
}
