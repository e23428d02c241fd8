import { createHash, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, stat, statfs, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import * as z from 'zod'
import { removeStaleTemps, writeFileAtomic } from '../common/index.ts'
import { OfferSchema, type Offer } from './messages.ts'

/** A file on its way in: written under a name of the inbox's own, moved to its final name only once verified. */
export interface PartialFile {
  readonly key: string
  readonly offer: Offer
  readonly peerId: string
  /** bytes written and hashed so far */
  offset: number
  readonly hash: Hash
  readonly handle: FileHandle
}

/** A finished file in the inbox, and who sent it. */
export interface InboxEntry {
  name: string
  /** what the sender called it: its path there */
  original: string
  path: string
  size: number
  sha256: string
  from: string
  fromPeer: string
  purpose: string
  mediaType: string
  receivedAt: string
}

const PartialRecordSchema = z.object({ peerId: z.string(), offer: OfferSchema, verified: z.number().int().min(0), updatedAt: z.number() })
const IndexSchema = z.record(z.string(), z.object({
  original: z.string(),
  size: z.number(), sha256: z.string(), from: z.string(), fromPeer: z.string(), purpose: z.string(), mediaType: z.string(), receivedAt: z.string()
}))

/**
 * A name of the receiver's own for what a sender called `name`: its last path part with anything but letters,
 * digits, dots, dashes and underscores replaced, never hidden, never empty, prefixed by the content's hash so that
 * two files of one name stay apart. Nothing the sender says is ever used as a path.
 */
export function inboxName (name: string, sha256: string): string {
  const last = name.split(/[/\\]/).filter(part => part !== '').pop() ?? ''
  const cleaned = last.normalize('NFKC').replace(/[^\w.-]+/g, '_').replace(/^[.]+/, '').slice(-100)
  return `${sha256.slice(0, 12)}-${cleaned === '' ? 'file' : cleaned}`
}

/**
 * The files a node receives: `inbox/` holds verified files under their final names, `partial/` what is still
 * arriving (each with a record of how much of it is flushed and verified, so a broken transfer resumes from
 * there), `index.json` who sent what. A crash at any moment leaves nothing partial under a final name.
 */
export class Inbox {
  readonly dir: string
  private readonly partialDir: string
  private readonly indexPath: string
  private index: z.infer<typeof IndexSchema> = {}

  constructor (root: string) {
    this.dir = join(root, 'inbox')
    this.partialDir = join(root, 'partial')
    this.indexPath = join(root, 'index.json')
  }

  /** Creates the folders, reads the index, and sweeps partial files older than `partialTtlMs`; says how many it swept. */
  async open (partialTtlMs: number): Promise<number> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    await mkdir(this.partialDir, { recursive: true, mode: 0o700 })
    await removeStaleTemps(this.indexPath)
    const text = await readFile(this.indexPath, 'utf8').catch(() => '{}')
    const parsed = IndexSchema.safeParse(JSON.parse(text))
    this.index = parsed.success ? parsed.data : {}
    return this.sweep(partialTtlMs)
  }

  /** Partial files whose sender has not come back within `ttlMs`, and any part without its record. */
  async sweep (ttlMs: number): Promise<number> {
    let swept = 0
    const names = await readdir(this.partialDir).catch(() => [])
    for (const name of names.filter(name => name.endsWith('.part'))) {
      const key = name.slice(0, -'.part'.length)
      const record = await this.record(key)
      if (record !== undefined && Date.now() - record.updatedAt < ttlMs) continue
      await this.remove(key)
      swept++
    }
    return swept
  }

  /** Bytes this peer's files hold here, finished and partial. */
  async usage (peerId: string): Promise<number> {
    let bytes = Object.values(this.index).filter(entry => entry.fromPeer === peerId).reduce((sum, entry) => sum + entry.size, 0)
    for (const name of (await readdir(this.partialDir).catch(() => [])).filter(name => name.endsWith('.json'))) {
      const record = await this.record(name.slice(0, -'.json'.length))
      if (record?.peerId === peerId) bytes += record.offer.size
    }
    return bytes
  }

  async freeBytes (): Promise<number> {
    const fs = await statfs(this.dir)
    return fs.bavail * fs.bsize
  }

  /** The finished file this offer names, when the inbox holds it whole already. */
  async holds (offer: Offer): Promise<string | undefined> {
    const path = join(this.dir, inboxName(offer.name, offer.sha256))
    const entry = this.index[inboxName(offer.name, offer.sha256)]
    if (entry?.sha256 !== offer.sha256) return undefined
    const found = await stat(path).catch(() => undefined)
    return found?.size === offer.size ? path : undefined
  }

  /**
   * Opens the partial file for an offer: where a transfer of the same file from the same peer stopped, its
   * verified bytes are kept (and hashed again), anything after them cut off.
   */
  async begin (peerId: string, offer: Offer): Promise<PartialFile> {
    const key = `${peerId.slice(-12)}-${offer.sha256}`
    const record = await this.record(key)
    const path = join(this.partialDir, `${key}.part`)
    const onDisk = await stat(path).catch(() => undefined)
    const resumable = record !== undefined && record.peerId === peerId && record.offer.size === offer.size && onDisk !== undefined && onDisk.size >= record.verified
    const offset = resumable ? record.verified : 0
    const handle = await open(path, resumable ? 'r+' : 'w', 0o600)
    await handle.truncate(offset)
    const hash = createHash('sha256')
    if (offset > 0) {
      for await (const chunk of createReadStream('', { fd: handle.fd, start: 0, end: offset - 1, autoClose: false })) hash.update(chunk as Buffer)
    }
    await this.writeRecord(key, peerId, offer, offset)
    return { key, offer, peerId, offset, hash, handle }
  }

  /**
   * Hashes and writes a batch that arrived, all of it: a write the file system took only part of (a disk filling
   * up) is carried on from where it stopped, until it fails outright.
   */
  async append (partial: PartialFile, batch: Uint8Array[]): Promise<number> {
    for (const chunk of batch) partial.hash.update(chunk)
    let rest = batch
    let written = 0
    while (rest.length > 0) {
      const { bytesWritten } = await partial.handle.writev(rest, partial.offset)
      if (bytesWritten === 0) throw new Error(`the file system took none of a ${rest.reduce((sum, chunk) => sum + chunk.byteLength, 0)}-byte write`)
      partial.offset += bytesWritten
      written += bytesWritten
      rest = after(rest, bytesWritten)
    }
    return written
  }

  /** Flushes what has arrived and records it as the point a broken transfer resumes from. */
  async checkpoint (partial: PartialFile): Promise<void> {
    await partial.handle.sync()
    await this.writeRecord(partial.key, partial.peerId, partial.offer, partial.offset)
  }

  /** Moves a verified, flushed file to its final name and remembers who sent it. */
  async finish (partial: PartialFile, from: string): Promise<string> {
    await partial.handle.sync()
    await partial.handle.close()
    const name = inboxName(partial.offer.name, partial.offer.sha256)
    const path = join(this.dir, name)
    await rename(join(this.partialDir, `${partial.key}.part`), path)
    await unlink(join(this.partialDir, `${partial.key}.json`)).catch(() => {})
    this.index[name] = {
      original: partial.offer.name,
      size: partial.offer.size,
      sha256: partial.offer.sha256,
      from,
      fromPeer: partial.peerId,
      purpose: partial.offer.purpose,
      mediaType: partial.offer.mediaType,
      receivedAt: new Date().toISOString()
    }
    await writeFileAtomic(this.indexPath, JSON.stringify(this.index, null, 2))
    return path
  }

  /** Keeps what arrived for a resume (the sender went away), or drops it (the bytes were wrong, or cancelled). */
  async stop (partial: PartialFile, keep: boolean): Promise<void> {
    try {
      if (keep) await this.checkpoint(partial)
    } finally {
      await partial.handle.close().catch(() => {})
      if (!keep) await this.remove(partial.key)
    }
  }

  /** The sender's own path for a file of the inbox, when `peerId` sent it. */
  originOf (path: string, peerId: string): string | undefined {
    if (dirname(path) !== this.dir) return undefined
    const entry = this.index[basename(path)]
    return entry?.fromPeer === peerId ? entry.original : undefined
  }

  entries (): InboxEntry[] {
    return Object.entries(this.index)
      .map(([name, entry]) => ({ name, path: join(this.dir, name), ...entry }))
      .sort((a, b) => b.receivedAt.localeCompare(a.receivedAt))
  }

  private async record (key: string): Promise<z.infer<typeof PartialRecordSchema> | undefined> {
    const text = await readFile(join(this.partialDir, `${key}.json`), 'utf8').catch(() => undefined)
    if (text === undefined) return undefined
    try {
      const parsed = PartialRecordSchema.safeParse(JSON.parse(text))
      return parsed.success ? parsed.data : undefined
    } catch {
      return undefined
    }
  }

  private async writeRecord (key: string, peerId: string, offer: Offer, verified: number): Promise<void> {
    await writeFileAtomic(join(this.partialDir, `${key}.json`), JSON.stringify({ peerId, offer, verified, updatedAt: Date.now() }))
  }

  private async remove (key: string): Promise<void> {
    await unlink(join(this.partialDir, `${key}.part`)).catch(() => {})
    await unlink(join(this.partialDir, `${key}.json`)).catch(() => {})
  }
}

/** What is left of `chunks` once their first `count` bytes are taken. */
function after (chunks: Uint8Array[], count: number): Uint8Array[] {
  let skip = count
  const rest: Uint8Array[] = []
  for (const chunk of chunks) {
    if (skip >= chunk.byteLength) {
      skip -= chunk.byteLength
      continue
    }
    rest.push(skip === 0 ? chunk : chunk.subarray(skip))
    skip = 0
  }
  return rest
}
