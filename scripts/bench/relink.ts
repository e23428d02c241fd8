/**
 * Re-link time: how long a child takes to link again once its parent is back after a crash.
 *
 * One real parent and one real child (`mycroft-mesh start` processes through support/node-process.ts), on
 * loopback, no bus, the default 5 s heartbeat and the default reconnect backoff (250 ms doubling to 3 s, with
 * jitter). The child is linked first. Then, each round:
 *   1. SIGKILL the parent (no goodbye: a crash or a pulled plug);
 *   2. wait until the child's `status` says its parent is `connecting` (it noticed, and its re-link loop runs);
 *   3. start the parent again with the same home (same identity and trust store) and the same port;
 *   4. sample = the `time` of the child's JSON log line "linked to parent …" minus the `time` of the parent's
 *      "… listening" line (both ms since the epoch, both processes on this machine's clock).
 * So a sample is the part of the outage the child adds once its parent is reachable again: the rest of the
 * backoff pause it was in, plus dial, noise, yamux and hello/welcome. How long the parent takes to start is
 * not counted. The parent's port is chosen below the kernel's ephemeral range (32768 and up on Linux), so the
 * child's own dials cannot take it while the parent is down.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NodeProcess, type LogLine, type NodeProcessOptions } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'
import { spread } from './stats.ts'

export interface RelinkOptions {
  rounds: number
  log: (line: string) => void
}

export interface RelinkResult {
  relink_ms_p50: number
  relink_ms_max: number
  samples: number[]
}

/** the realistic default, not the 500 ms of the test helpers */
const HEARTBEAT_MS = 5_000

/** A free loopback TCP port below the ephemeral range, so no outgoing connection can be given it meanwhile. */
async function freePortBelowEphemeral (): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    const free = await new Promise<boolean>(resolve => {
      const server = createServer()
      server.once('error', () => { resolve(false) })
      server.listen(port, '127.0.0.1', () => { server.close(() => { resolve(true) }) })
    })
    if (free) return port
  }
  throw new Error('no free port found between 20000 and 32000 on 127.0.0.1')
}

const isListening = (line: LogLine): boolean => line.msg.endsWith('listening')
const isLinked = (line: LogLine): boolean => line.msg.startsWith('linked to parent')

export async function benchRelink (options: { rounds: number, log: (line: string) => void }): Promise<RelinkResult> {
  const { log } = options
  const rounds = Math.max(1, Math.floor(options.rounds))
  const parentHome = await mkdtemp(join(tmpdir(), 'mmb-parent-'))
  const childHome = await mkdtemp(join(tmpdir(), 'mmb-child-'))
  const port = await freePortBelowEphemeral()
  const parentOptions: NodeProcessOptions = {
    home: parentHome,
    name: 'parent',
    listen: `/ip4/127.0.0.1/tcp/${port}`,
    heartbeatMs: HEARTBEAT_MS,
    bus: 'none',
    open: true
  }
  let parent = new NodeProcess(parentOptions)
  let child: NodeProcess | undefined
  const samples: number[] = []
  try {
    await parent.start()
    child = new NodeProcess({ home: childHome, name: 'child', parent: await parent.addr(), heartbeatMs: HEARTBEAT_MS, bus: 'none', open: false })
    await child.start()
    await child.waitForLog('the child to link to its parent', isLinked, 20_000)
    log(`relink: parent on 127.0.0.1:${port}, child linked; ${rounds} rounds of SIGKILL and restart (default backoff 250 ms doubling to 3 s, heartbeat ${HEARTBEAT_MS} ms)`)

    for (let round = 1; round <= rounds; round++) {
      const mark = child.logs.length
      await parent.kill()
      const noticedFrom = Date.now()
      const current = child
      await waitFor('the child to notice its parent is gone', async () => (await current.status()).parent.state === 'connecting', { timeoutMs: 3 * HEARTBEAT_MS + 5_000 })
      const noticedMs = Date.now() - noticedFrom

      parent = new NodeProcess(parentOptions)
      await parent.start()
      const listening = parent.logs.find(isListening)
      if (listening === undefined) throw new Error('the parent logged no "listening" line')
      const linked = await waitFor('the child to link again', () => current.logs.slice(mark).find(isLinked), { timeoutMs: 20_000 })
      const sample = Number(linked.time) - Number(listening.time)
      if (!Number.isFinite(sample)) throw new Error(`log lines without a time: ${JSON.stringify(listening)} ${JSON.stringify(linked)}`)
      const failures = current.logs.slice(mark).filter(line => /retrying in/.test(line.msg)).length
      samples.push(sample)
      log(`relink: round ${round}/${rounds}: ${sample} ms (child noticed the loss within ${noticedMs} ms; ${failures} failed dials while the parent was down)`)
    }
    const result: RelinkResult = { relink_ms_p50: spread(samples, 0).median, relink_ms_max: Math.max(...samples), samples }
    log(`relink: p50 ${result.relink_ms_p50} ms, max ${result.relink_ms_max} ms over ${samples.length} rounds`)
    return result
  } finally {
    const stopOne = async (node: NodeProcess | undefined): Promise<void> => {
      if (node === undefined) return
      let timer: ReturnType<typeof setTimeout> | undefined
      const deadline = new Promise<boolean>(resolve => { timer = setTimeout(() => { resolve(false) }, 10_000) })
      const stopped = await Promise.race([node.stop().then(() => true), deadline])
      clearTimeout(timer)
      if (!stopped) await node.kill()
    }
    await stopOne(child)
    await stopOne(parent)
    await rm(parentHome, { recursive: true, force: true })
    await rm(childHome, { recursive: true, force: true })
  }
}
