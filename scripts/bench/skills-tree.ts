/**
 * A skill update down a tree: a master node process publishes a 1 MiB archive; 9 hubs under it (one process) and
 * 90 rooms under them (10 each, spread over several processes) verify it with the TUF client, install it, and pass
 * it on. Times are from the `skills publish` command to each node's install, by level; memory is the master's and
 * the hubs' process's (per hub), before and after.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { create } from 'tar'
import { NodeProcess, runCli } from '../../support/node-process.ts'
import { quantile } from './stats.ts'

export interface SkillsTreeFigures {
  nodes: number
  last_ms: number
  hubs_p50_ms: number
  hubs_max_ms: number
  rooms_p50_ms: number
  rooms_max_ms: number
  master_rss_growth_mib: number
  hub_rss_growth_mib: number
}

interface Worker {
  process: ChildProcess
  events: Array<Record<string, unknown>>
  wait: (what: string, check: (events: Array<Record<string, unknown>>) => boolean, timeoutMs?: number) => Promise<void>
}

/** A mesh-nodes.ts process running `nodes`. */
async function worker (dir: string, label: string, nodes: Array<{ name: string, parent: string | null, pin: string }>): Promise<Worker> {
  const spec = join(dir, `${label}.json`)
  await writeFile(spec, JSON.stringify({ nodes: await Promise.all(nodes.map(async node => ({ ...node, home: await mkdtemp(join(dir, `${node.name}-`)) }))) }))
  const child = spawn(process.execPath, [fileURLToPath(new URL('./mesh-nodes.ts', import.meta.url)), spec], { stdio: ['pipe', 'pipe', 'inherit'] })
  const events: Array<Record<string, unknown>> = []
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout }).on('line', line => {
    events.push(JSON.parse(line) as Record<string, unknown>)
    for (const wake of waiters) wake()
  })
  const wait = async (what: string, check: (events: Array<Record<string, unknown>>) => boolean, timeoutMs = 60_000): Promise<void> => {
    if (check(events)) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { waiters.delete(wake); reject(new Error(`${label}: no ${what} within ${timeoutMs / 1000} s`)) }, timeoutMs)
      const wake = (): void => { if (check(events)) { clearTimeout(timer); waiters.delete(wake); resolve() } }
      waiters.add(wake)
    })
  }
  return { process: child, events, wait }
}

const count = (type: string) => (events: Array<Record<string, unknown>>): number => events.filter(event => event.event === type).length
const rssOf = async (pid: number | undefined): Promise<number> => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid ?? 0}/status`, 'utf8'))?.[1] ?? 0) / 1024

export async function benchSkillsTree ({ hubs = 9, roomsPerHub = 10, roomProcesses = 3, log }: { hubs?: number, roomsPerHub?: number, roomProcesses?: number, log: (line: string) => void }): Promise<SkillsTreeFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'mm-bench-skills-'))
  const workers: Worker[] = []
  const master = new NodeProcess({ home: join(dir, 'master'), name: 'master', bus: 'none', heartbeatMs: 5_000, config: { logLevel: 'warn', maxInboundPerIpPerSecond: 10_000 } })
  try {
    await mkdir(master.home)
    await master.start()
    const init = await runCli(['skills', 'init', '--home', master.home])
    const pin = /[0-9a-f]{64}/.exec(init.stdout)?.[0]
    if (pin === undefined) throw new Error(`skills init failed: ${init.stderr}`)
    const source = join(dir, 'bundle')
    await mkdir(source)
    await writeFile(join(source, 'model.bin'), randomBytes(1024 * 1024))
    await writeFile(join(source, 'skill.py'), 'print("hello")')
    const bundle = join(dir, 'ovos-skill-bench-1.0.0.tar.gz')
    await create({ gzip: true, file: bundle, cwd: source }, ['model.bin', 'skill.py'])
    if ((await runCli(['skills', 'add', '--home', master.home, bundle])).code !== 0) throw new Error('skills add failed')

    const masterAddr = await master.addr()
    const hubWorker = await worker(dir, 'hubs', Array.from({ length: hubs }, (_, i) => ({ name: `hub-${i}`, parent: masterAddr, pin })))
    workers.push(hubWorker)
    await hubWorker.wait('hubs started', events => count('started')(events) === hubs)
    const hubAddrs = hubWorker.events.filter(event => event.event === 'started').map(event => String(event.addr))
    const rooms = hubAddrs.flatMap((addr, h) => Array.from({ length: roomsPerHub }, (_, r) => ({ name: `room-${h}-${r}`, parent: addr, pin })))
    for (let p = 0; p < roomProcesses; p++) {
      workers.push(await worker(dir, `rooms-${p}`, rooms.filter((_, i) => i % roomProcesses === p)))
    }
    const roomWorkers = workers.slice(1)
    await Promise.all(workers.map(async (one, i) => one.wait('every node linked', events => count('linked')(events) === (i === 0 ? hubs : rooms.filter((_, k) => k % roomProcesses === i - 1).length))))
    log(`skills tree: 1 master, ${hubs} hubs, ${rooms.length} rooms linked`)
    const before = { master: await rssOf(master.pid), hubs: await rssOf(hubWorker.process.pid) }

    const publishedAt = Date.now()
    if ((await runCli(['skills', 'publish', '--home', master.home])).code !== 0) throw new Error('skills publish failed')
    await Promise.all(workers.map(async (one, i) => one.wait('every install', events => count('installed')(events) === (i === 0 ? hubs : rooms.filter((_, k) => k % roomProcesses === i - 1).length), 120_000)))
    const after = { master: await rssOf(master.pid), hubs: await rssOf(hubWorker.process.pid) }
    const times = (one: Worker[]): number[] => one.flatMap(w => w.events.filter(event => event.event === 'installed').map(event => Number(event.at) - publishedAt))
    const hubTimes = times([hubWorker])
    const roomTimes = times(roomWorkers)
    return {
      nodes: 1 + hubs + rooms.length,
      last_ms: Math.max(...hubTimes, ...roomTimes),
      hubs_p50_ms: quantile(hubTimes, 0.5),
      hubs_max_ms: Math.max(...hubTimes),
      rooms_p50_ms: quantile(roomTimes, 0.5),
      rooms_max_ms: Math.max(...roomTimes),
      master_rss_growth_mib: after.master - before.master,
      hub_rss_growth_mib: (after.hubs - before.hubs) / hubs
    }
  } finally {
    for (const one of workers) one.process.stdin?.end()
    await Promise.all(workers.map(async one => new Promise(resolve => { if (one.process.exitCode !== null) resolve(null); else one.process.once('exit', resolve) })))
    await master.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
