/**
 * What a file costs to move over one hop: a child node sends a file to its parent node (both real processes;
 * read, Noise and yamux, receive, hash, write, flush, rename), beside a bare libp2p stream of the same bytes over
 * the same stack in the same run, in interleaved rounds; the memory each side grows by while it moves; and how
 * long a question takes while a file crosses the same link, beside the same question on the idle link.
 */
import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { homePaths, queryControl } from '../../src/control/index.ts'
import { bareStreamBytesPerSecond } from './link-throughput.ts'
import { startMeshPair, type MeshPair } from './mesh-pair.ts'
import { quantile } from './stats.ts'
import { timedAsker } from './timed-asker.ts'
import type { TransferState } from '../../src/files/index.ts'
import type { NodeProcess } from '../../support/node-process.ts'

export interface FileTransferFigures {
  /** medians over the rounds: bytes per second from the offer to the receiver's verdict, and over a bare stream */
  file_bytes_per_s: number
  bare_bytes_per_s: number
  /** the spread: lowest and highest file / bare ratio of one round */
  ratio_min: number
  ratio_max: number
  /** the sender's hash of the file, before its offer (once per file: a resend or resume finds it remembered) */
  hash_bytes_per_s: number
  sender_rss_growth_mib: number
  receiver_rss_growth_mib: number
  ask_idle_p50_ms: number
  ask_busy_p50_ms: number
  ask_busy_samples: number
}

const SAMPLE_MS = 100
/** During the transfer, a question this often: a house's questions, not a flood competing for the two cores. */
const ASK_EVERY_MS = 100

const rssMiB = async (node: NodeProcess): Promise<number> => {
  const status = await readFile(`/proc/${node.pid ?? 0}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
}

/** A file of `bytes` whose content differs in every MiB (and from any other run's), written without holding it. */
async function writeFileOf (path: string, bytes: number, seed: number): Promise<void> {
  const out = createWriteStream(path)
  for (let written = 0; written < bytes; written += 2 ** 20) {
    const chunk = Buffer.alloc(Math.min(2 ** 20, bytes - written), written / 2 ** 20 % 251)
    createHash('sha256').update(`${seed}:${written}`).digest().copy(chunk, 0)
    if (!out.write(chunk)) await new Promise<void>(resolve => { out.once('drain', () => { resolve() }) })
  }
  await new Promise<void>(resolve => { out.end(() => { resolve() }) })
}

interface Sent { hashSeconds: number, transferSeconds: number, peak: { sender: number, receiver: number } }

/** Sends `path` from the child to the parent and follows it; `meanwhile` runs until the transfer ends. */
async function sendFollowing (pair: MeshPair, path: string, meanwhile?: () => Promise<void>): Promise<Sent> {
  const control = homePaths(pair.child.home)
  const peak = { sender: 0, receiver: 0 }
  const started = performance.now()
  const { id } = await queryControl(control.controlSocket, control.dir, '/files/send', { to: 'parent', path }) as { id: string }
  let offeredAt: number | undefined
  let done = false
  const side = meanwhile === undefined ? Promise.resolve() : (async () => { while (!done) await meanwhile() })()
  for (;;) {
    peak.sender = Math.max(peak.sender, await rssMiB(pair.child))
    peak.receiver = Math.max(peak.receiver, await rssMiB(pair.parent))
    const transfer = (await queryControl(control.controlSocket, control.dir, '/files') as { transfers: TransferState[] }).transfers.find(candidate => candidate.id === id)
    if (transfer === undefined || transfer.state === 'failed' || transfer.state === 'cancelled') throw new Error(`the transfer did not finish: ${transfer?.reason ?? 'gone'}`)
    if (offeredAt === undefined && transfer.bytes > 0) offeredAt = performance.now() - transfer.bytes / Math.max(1, transfer.rate) * 1000
    if (transfer.state === 'done') break
    await new Promise(resolve => setTimeout(resolve, SAMPLE_MS))
  }
  const finished = performance.now()
  done = true
  await side
  return { hashSeconds: ((offeredAt ?? started) - started) / 1000, transferSeconds: (finished - (offeredAt ?? started)) / 1000, peak }
}

export async function benchFileTransfer ({ bytes, rounds, asks, log }: { bytes: number, rounds: number, asks: number, log: (line: string) => void }): Promise<FileTransferFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'mm-bench-files-'))
  const limits = { maxFileBytes: bytes * 2, perPeerBytes: bytes * (rounds + 2) * 2, partialTtlMs: 3_600_000 }
  const pair = await startMeshPair({ parent: { files: limits, logLevel: 'warn' }, child: { files: limits, logLevel: 'warn' } })
  // a house child may send 50 frames a second; this one asks as fast as it is told to
  await pair.allowRate(100_000)
  const { ask, close } = await timedAsker(pair)
  try {
    const before = { sender: await rssMiB(pair.child), receiver: await rssMiB(pair.parent) }
    const peak = { sender: 0, receiver: 0 }
    const ratios: number[] = []
    const files: number[] = []
    const bares: number[] = []
    const hashes: number[] = []
    for (let round = 0; round < rounds; round++) {
      const path = join(dir, `payload-${round}.bin`)
      await writeFileOf(path, bytes, round)
      const bare = await bareStreamBytesPerSecond(bytes, 256 * 1024)
      const sent = await sendFollowing(pair, path)
      const file = bytes / sent.transferSeconds
      log(`round ${round + 1}/${rounds}: file ${(file / 2 ** 20).toFixed(0)} MiB/s, bare stream ${(bare / 2 ** 20).toFixed(0)} MiB/s`)
      files.push(file)
      bares.push(bare)
      ratios.push(file / bare)
      hashes.push(bytes / Math.max(sent.hashSeconds, 1e-3))
      peak.sender = Math.max(peak.sender, sent.peak.sender)
      peak.receiver = Math.max(peak.receiver, sent.peak.receiver)
      await rm(path)
    }
    for (let i = 0; i < 200; i++) await ask()
    // the same questions at the same pace on the idle link: a question after 100 ms of quiet wakes every process on
    // its way (3–4 ms here), where one asked right after the last finds them awake (1 ms)
    const paced = async (): Promise<number> => {
      const ms = await ask()
      await new Promise(resolve => setTimeout(resolve, ASK_EVERY_MS))
      return ms
    }
    const idle: number[] = []
    for (let i = 0; i < asks; i++) idle.push(await paced())
    const busy: number[] = []
    const path = join(dir, 'payload-asked.bin')
    await writeFileOf(path, bytes, rounds)
    await sendFollowing(pair, path, async () => { busy.push(await paced()) })
    return {
      file_bytes_per_s: quantile(files, 0.5),
      bare_bytes_per_s: quantile(bares, 0.5),
      ratio_min: Math.min(...ratios),
      ratio_max: Math.max(...ratios),
      hash_bytes_per_s: quantile(hashes, 0.5),
      sender_rss_growth_mib: peak.sender - before.sender,
      receiver_rss_growth_mib: peak.receiver - before.receiver,
      ask_idle_p50_ms: quantile(idle, 0.5),
      ask_busy_p50_ms: quantile(busy, 0.5),
      ask_busy_samples: busy.length
    }
  } finally {
    close()
    await pair.close()
    await rm(dir, { recursive: true, force: true })
  }
}
