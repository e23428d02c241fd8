import { createHash, randomBytes } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FILE_PROTOCOL } from '../../src/files/index.ts'
import { runCli } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'
import { frame, openLink, RawPeers, type RawLink } from '../helpers/raw-peer.ts'
import { Rooms, type Room } from '../helpers/rooms.ts'
import type { Libp2p } from 'libp2p'

/**
 * Hostile and broken senders on the file protocol, from hand-made libp2p peers that speak it byte by byte:
 * each is refused or cleaned up with a reason on the wire, nothing half-written lies under a final name, and
 * the node goes on serving.
 */

const rooms = new Rooms()
const raw = new RawPeers()
let brain: Room
let addr: string
let client: Libp2p
let link: RawLink
const MAX_FILE = 1024 * 1024

beforeAll(async () => {
  brain = await rooms.room('brain', { config: { files: { maxFileBytes: MAX_FILE, perPeerBytes: 4 * MAX_FILE, partialTtlMs: 3_600_000 } } })
  addr = await brain.node.addr()
  client = await raw.client()
  link = await openLink(client, addr)
  await link.hello('sender')
}, 30_000)

afterAll(async () => {
  await raw.stopAll()
  await rooms.cleanup()
})

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')
const decoder = new TextDecoder()

/** The receiver's frames, read loosely: a test looks at whichever field came. */
interface Reply { accept?: { offset: number }, have?: { path: string }, refuse?: { code: string, reason: string } }
interface Finish { done?: { path: string }, failed?: { code: string, reason: string } }
interface Exchange {
  reply: Reply
  finish?: Finish
}

/**
 * Offers a file by hand and, when accepted, sends `bytes` from the offset the receiver asks for; `stopAfter`
 * ends the stream after that many bytes, as a sender that went away would.
 */
async function offer (from: Libp2p, fields: Record<string, unknown>, bytes: Uint8Array, { stopAfter }: { stopAfter?: number } = {}): Promise<Exchange> {
  const stream = await from.dialProtocol(multiaddr(addr), FILE_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
  stream.send(frame(JSON.stringify({ v: 1, mediaType: 'application/octet-stream', purpose: 'test', ...fields })))
  const reader = lpStream(stream)
  const reply = JSON.parse(decoder.decode((await reader.read({ signal: AbortSignal.timeout(5_000) })).subarray())) as Reply
  if (reply.accept === undefined) return { reply }
  const rest = bytes.subarray(reply.accept.offset, stopAfter)
  const unwrapped = reader.unwrap()
  if (!unwrapped.send(rest)) await unwrapped.onDrain()
  if (stopAfter !== undefined) {
    await unwrapped.close()
    const ended = await lpStream(unwrapped).read({ signal: AbortSignal.timeout(5_000) }).then(data => JSON.parse(decoder.decode(data.subarray())) as Finish, () => undefined)
    return { reply, finish: ended }
  }
  const finish = JSON.parse(decoder.decode((await lpStream(unwrapped).read({ signal: AbortSignal.timeout(10_000) })).subarray())) as Finish
  await unwrapped.close().catch(() => {})
  return { reply, finish }
}

const inboxNames = async (): Promise<string[]> => readdir(join(brain.node.home, 'files', 'inbox'))
const partialNames = async (): Promise<string[]> => (await readdir(join(brain.node.home, 'files', 'partial'))).filter(name => name.endsWith('.part'))

describe('the file protocol refuses or cleans up what it cannot take', () => {
  it('takes a file named like a path under a name of its own, inside the inbox', async () => {
    const bytes = randomBytes(4_000)
    const { finish } = await offer(client, { name: '../../etc/passwd', size: bytes.length, sha256: sha256(bytes) }, bytes)
    const path = String(finish?.done?.path)
    expect(path).toBe(join(brain.node.home, 'files', 'inbox', `${sha256(bytes).slice(0, 12)}-passwd`))
    expect(sha256(await readFile(path))).toBe(sha256(bytes))
  })

  it('refuses a peer that is not linked to it', async () => {
    const stranger = await raw.client()
    const bytes = randomBytes(100)
    const { reply } = await offer(stranger, { name: 'x.bin', size: bytes.length, sha256: sha256(bytes) }, bytes)
    expect(reply.refuse).toMatchObject({ code: 'not-linked' })
  })

  it('refuses an offer over its size cap before a byte is sent', async () => {
    const { reply } = await offer(client, { name: 'big.bin', size: MAX_FILE + 1, sha256: 'a'.repeat(64) }, new Uint8Array(0))
    expect(reply.refuse?.code).toBe('too-large')
    expect(reply.refuse?.reason).toContain(`up to ${MAX_FILE} bytes`)
  })

  it('refuses a malformed offer with a reason', async () => {
    const { reply } = await offer(client, { name: 'x', size: -5, sha256: 'nope' }, new Uint8Array(0))
    expect(reply.refuse?.code).toBe('invalid')
  })

  it('drops a file longer than offered, and one whose bytes do not match their hash', async () => {
    const before = await inboxNames()
    const bytes = randomBytes(2_000)
    const longer = await offer(client, { name: 'long.bin', size: 1_000, sha256: sha256(bytes.subarray(0, 1_000)) }, bytes)
    expect(longer.finish?.failed?.code).toBe('too-long')
    const tampered = await offer(client, { name: 'tampered.bin', size: bytes.length, sha256: sha256(randomBytes(2_000)) }, bytes)
    expect(tampered.finish?.failed?.code).toBe('hash-mismatch')
    expect(await inboxNames()).toEqual(before)
    expect(await partialNames()).toEqual([])
  })

  it('keeps what a sender sent before it went away, and resumes from there', async () => {
    const bytes = randomBytes(600_000)
    const fields = { name: 'recording.wav', size: bytes.length, sha256: sha256(bytes) }
    const broken = await offer(client, fields, bytes, { stopAfter: 250_000 })
    expect(broken.finish?.failed?.code).toBe('too-short')
    expect(await partialNames()).toHaveLength(1)
    expect((await inboxNames()).some(name => name.endsWith('recording.wav'))).toBe(false)
    const resumed = await offer(client, fields, bytes)
    expect(resumed.reply.accept?.offset).toBe(250_000)
    expect(sha256(await readFile(String(resumed.finish?.done?.path)))).toBe(sha256(bytes))
    expect(await partialNames()).toEqual([])
  })

  it('lets its owner cancel a transfer under way: the partial file goes, the sender is told', async () => {
    const bytes = randomBytes(500_000)
    const stream = await client.dialProtocol(multiaddr(addr), FILE_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
    stream.send(frame(JSON.stringify({ v: 1, name: 'slow.bin', size: bytes.length, sha256: sha256(bytes), mediaType: 'application/octet-stream', purpose: 'test' })))
    const reader = lpStream(stream)
    await reader.read({ signal: AbortSignal.timeout(5_000) })
    const unwrapped = reader.unwrap()
    unwrapped.send(bytes.subarray(0, 100_000))
    const listing = async (): Promise<Array<{ id: string, name: string, state: string }>> =>
      (JSON.parse((await runCli(['files', '--home', brain.node.home, '--json'])).stdout) as { transfers: Array<{ id: string, name: string, state: string }> }).transfers
    const transfer = await waitFor('the transfer under way', async () => (await listing()).find(candidate => candidate.name === 'slow.bin' && candidate.state === 'under-way'))
    const cancelled = await runCli(['files', 'cancel', '--home', brain.node.home, transfer.id])
    expect(cancelled.code, cancelled.stderr).toBe(0)
    await waitFor('the transfer cancelled', async () => (await listing()).find(candidate => candidate.id === transfer.id)?.state === 'cancelled')
    expect(await partialNames()).toEqual([])
    const again = await runCli(['files', 'cancel', '--home', brain.node.home, transfer.id])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('is under way')
  })

  it('holds a thousand offers at once to a few, and serves everyone after', async () => {
    const bytes = randomBytes(10)
    const outcomes = await Promise.all(Array.from({ length: 1_000 }, async (_, i): Promise<string> =>
      offer(client, { name: `flood-${i}.bin`, size: bytes.length, sha256: sha256(bytes) }, bytes).then(exchange => exchange.reply.refuse?.code ?? 'taken', () => 'reset')))
    const counts = outcomes.reduce<Record<string, number>>((tally, outcome) => ({ ...tally, [outcome]: (tally[outcome] ?? 0) + 1 }), {})
    expect(counts.taken ?? 0).toBeGreaterThan(0)
    expect((counts.busy ?? 0) + (counts.reset ?? 0)).toBeGreaterThan(0)
    // the node is whole: it answers its owner and takes the next file
    expect((await runCli(['status', '--home', brain.node.home])).code).toBe(0)
    const next = randomBytes(500)
    const { finish } = await offer(client, { name: 'after.bin', size: next.length, sha256: sha256(next) }, next)
    expect(finish?.done?.path).toBeDefined()
    await brain.node.waitForLog('a refusal line', line => /refused flood-\d+\.bin from sender/.test(line.msg))
    const floodLines = brain.node.logs.filter(line => /refused flood-/.test(line.msg))
    expect(floodLines.length).toBeLessThanOrEqual(2)
  }, 60_000)

  it('refuses an offer that would pass the sender\'s share of the disk, saying what it holds', async () => {
    const outcomes: string[] = []
    for (let i = 0; i < 5; i++) {
      const bytes = randomBytes(MAX_FILE)
      const { reply, finish } = await offer(client, { name: `share-${i}.bin`, size: bytes.length, sha256: sha256(bytes) }, bytes)
      outcomes.push(reply.refuse?.code ?? (finish?.done !== undefined ? 'taken' : 'failed'))
      if (reply.refuse !== undefined) expect(reply.refuse.reason).toContain(`quota of ${4 * MAX_FILE} bytes`)
    }
    expect(outcomes.at(-1)).toBe('quota')
  })
})
