/**
 * A node's weight: the RSS of a child node, linked and idle, beside a bare Node process measured in the same
 * rounds; and the time from `mycroft-mesh start` to linked. Each round starts a fresh child (its own home,
 * an embedded bus as a kitchen's assistant would have) under one parent, both real processes as a user runs
 * them (bin/mycroft-mesh.js, hence the bundle), and a bare `node` beside it; rounds alternate which starts first.
 *
 * RSS is read from /proc (VmRSS, with its anonymous and file-backed parts): what `ps` and the owner see, code
 * pages of the node binary included. The child is sampled after it has been idle for IDLE_MS, the lowest of
 * SAMPLES a second apart.
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { Homes, NodeProcess } from '../../support/node-process.ts'
import { spread } from './stats.ts'

export interface NodeWeightResult {
  child_rss_mb: number
  child_rss_spread: string
  child_anon_mb: number
  child_file_mb: number
  child_heap_mb: number
  bare_node_rss_mb: number
  start_to_linked_ms: number
  start_to_linked_spread: string
}

const IDLE_MS = 5_000
const SAMPLES = 3
const MB = 1024 * 1024

interface Memory { rss: number, anon: number, file: number }

async function memoryOf (pid: number): Promise<Memory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') }
}

async function lowestOf (pid: number): Promise<Memory> {
  let lowest: Memory | undefined
  for (let i = 0; i < SAMPLES; i++) {
    if (i > 0) await new Promise(resolve => setTimeout(resolve, 1_000))
    const memory = await memoryOf(pid)
    if (lowest === undefined || memory.rss < lowest.rss) lowest = memory
  }
  return lowest as Memory
}

/** A bare Node process, idle, as a floor: what the runtime itself costs on this machine. */
async function bareNodeRss (): Promise<number> {
  const proc = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
  try {
    await new Promise(resolve => setTimeout(resolve, 1_500))
    return (await lowestOf(proc.pid as number)).rss
  } finally {
    proc.kill()
  }
}

export async function benchNodeWeight (options: { rounds: number, log: (line: string) => void }): Promise<NodeWeightResult> {
  const homes = new Homes()
  const parent = await new NodeProcess({ home: await homes.make('mm-weight-parent-'), name: 'brain', heartbeatMs: 5_000 }).start()
  const parentAddr = await parent.addr()
  const children: Memory[] = []
  const heaps: number[] = []
  const bare: number[] = []
  const startToLinked: number[] = []
  try {
    for (let round = 0; round < options.rounds; round++) {
      if (round % 2 === 0) bare.push(await bareNodeRss())
      const startedAt = Date.now()
      const child = await new NodeProcess({ home: await homes.make('mm-weight-child-'), name: `kitchen-${round}`, bus: 'embedded:0', heartbeatMs: 5_000, parent: parentAddr }).start()
      try {
        const linked = await child.waitForLog('the child to link', line => line.msg.startsWith('linked to parent'), 20_000)
        startToLinked.push((typeof linked.time === 'number' ? linked.time : Date.now()) - startedAt)
        await new Promise(resolve => setTimeout(resolve, IDLE_MS))
        children.push(await lowestOf(child.pid as number))
        heaps.push((await child.status()).process.heapUsedBytes)
      } finally {
        await child.stop()
      }
      if (round % 2 === 1) bare.push(await bareNodeRss())
      const last = children[children.length - 1] as Memory
      options.log(`node-weight: round ${round + 1}: child ${(last.rss / MB).toFixed(1)} MB RSS (${(last.anon / MB).toFixed(1)} anonymous, ${(last.file / MB).toFixed(1)} file-backed), bare node ${((bare[bare.length - 1] ?? Number.NaN) / MB).toFixed(1)} MB; start to linked ${startToLinked[startToLinked.length - 1]} ms`)
    }
  } finally {
    await parent.stop()
    await homes.cleanup()
  }
  const rss = spread(children.map(memory => memory.rss / MB))
  const linkedMs = spread(startToLinked)
  const median = (values: number[]): number => spread(values).median
  return {
    child_rss_mb: rss.median,
    child_rss_spread: rss.text,
    child_anon_mb: median(children.map(memory => memory.anon / MB)),
    child_file_mb: median(children.map(memory => memory.file / MB)),
    child_heap_mb: median(heaps.map(bytes => bytes / MB)),
    bare_node_rss_mb: median(bare.map(bytes => bytes / MB)),
    start_to_linked_ms: linkedMs.median,
    start_to_linked_spread: linkedMs.text
  }
}
