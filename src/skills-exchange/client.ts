import { createHash } from 'node:crypto'
import { copyFile, mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BaseFetcher, Updater } from 'tuf-js'
// tuf-js tells "not there" from a broken fetch only by this class, which its index does not export
import { DownloadHTTPError } from 'tuf-js/dist/error.js'
import * as z from 'zod'
import { writeFileAtomic } from '../common/index.ts'
import { servedPaths, SkillKindSchema, type SkillKind } from './repository.ts'

/** Reads one served file from the parent: its bytes, or undefined when the parent does not have it. */
export type ServedFetch = (path: string) => Promise<Uint8Array | undefined>

/** A skill the verified targets name, and where its verified file lies here. */
export interface VerifiedSkill {
  name: string
  version: string
  kind: SkillKind
  path: string
  sha256: string
  file: string
}

/** The mesh's root is not this node's: nothing it is sent is trusted. */
export class NotPinnedError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'NotPinnedError'
  }
}

/** How many root versions back a pinned root is looked for (tuf-js walks forward as many at most). */
const MAX_ROOT_ROTATIONS = 256

const CustomSchema = z.object({ name: z.string().min(1).max(100), version: z.string().min(1).max(64), kind: SkillKindSchema })
const TargetsFileSchema = z.object({ signed: z.object({ targets: z.record(z.string(), z.unknown()) }) })

/**
 * Fetches through the parent and keeps what it got, so that what verified can be served on to the children byte
 * for byte. tuf-js asks for `<base>/<name>`; the base is a name of ours, only the path part reaches the parent.
 */
class ParentFetcher extends BaseFetcher {
  readonly fetched = new Map<string, Uint8Array>()
  private readonly fetchServed: ServedFetch

  constructor (fetchServed: ServedFetch) {
    super()
    this.fetchServed = fetchServed
  }

  override async fetch (url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const path = new URL(url).pathname.slice(1)
    const bytes = await this.fetchServed(path)
    if (bytes === undefined) throw new DownloadHTTPError(`the parent has no ${path}`, 404)
    if (path.startsWith('metadata/')) this.fetched.set(path, bytes)
    return new ReadableStream({
      start (controller) {
        controller.enqueue(new Uint8Array(bytes))
        controller.close()
      }
    })
  }
}

/**
 * Every node's side of the skills exchange: the TUF client (tuf-js) run against the parent, from a root pinned
 * at join, and a mirror of exactly the bytes that verified, which this node serves to its own children.
 */
export class SkillsClient {
  readonly served: string
  private readonly metadataDir: string
  private readonly targetDir: string
  private readonly pinPath: string

  constructor (dir: string) {
    this.served = join(dir, 'served')
    this.metadataDir = join(dir, 'tuf', 'metadata')
    this.targetDir = join(dir, 'tuf', 'targets')
    this.pinPath = join(dir, 'pinned-root')
  }

  async open (): Promise<void> {
    for (const path of [join(this.served, 'metadata'), join(this.served, 'targets'), this.metadataDir, this.targetDir]) await mkdir(path, { recursive: true, mode: 0o700 })
  }

  /** Pins the mesh's root by the hash of its metadata (from an invite, or the hub): updates are taken only under it. */
  async pin (rootHash: string): Promise<void> {
    await writeFileAtomic(this.pinPath, `${rootHash}\n`)
  }

  async pinned (): Promise<string | undefined> {
    return (await readFile(this.pinPath, 'utf8').catch(() => undefined))?.trim()
  }

  /** The hash of the root this node trusts now (it moves on as the root is rotated), or the pinned one before the first update. */
  async rootHash (): Promise<string | undefined> {
    const trusted = await readFile(join(this.served, servedPaths.currentRoot)).catch(() => undefined)
    return trusted === undefined ? this.pinned() : sha256(trusted)
  }

  /**
   * Runs the TUF client against the parent and returns the skills its verified targets name, each file verified
   * against them, and the timestamp version they came with; then mirrors every verified file for this node's children. Throws (and mirrors nothing) when
   * anything does not verify.
   */
  async update (fetchServed: ServedFetch): Promise<{ skills: VerifiedSkill[], version: number }> {
    await this.trustPinnedRoot(fetchServed)
    const fetcher = new ParentFetcher(fetchServed)
    const updater = new Updater({ metadataDir: this.metadataDir, metadataBaseUrl: 'mesh://parent/metadata', targetDir: this.targetDir, targetBaseUrl: 'mesh://parent/targets', fetcher })
    await updater.refresh()
    const targets = TargetsFileSchema.parse(JSON.parse(await readFile(join(this.metadataDir, 'targets.json'), 'utf8')))
    const skills: VerifiedSkill[] = []
    for (const path of Object.keys(targets.signed.targets)) {
      const info = await updater.getTargetInfo(path)
      if (info === undefined) continue
      const custom = CustomSchema.safeParse(info.custom)
      if (!custom.success) continue
      const file = await updater.findCachedTarget(info) ?? await updater.downloadTarget(info)
      const sha256 = info.hashes.sha256 ?? ''
      skills.push({ ...custom.data, path, sha256, file })
    }
    await this.mirror(fetcher.fetched, skills)
    const timestamp = JSON.parse(await readFile(join(this.metadataDir, 'timestamp.json'), 'utf8')) as { signed?: { version?: number } }
    return { skills, version: timestamp.signed?.version ?? 0 }
  }

  /**
   * The first update: the root whose hash was pinned at join, from the parent — its current one, or, when the
   * master rotated its keys since the invite was made, the older version the parent still serves; the TUF client
   * then walks up from it, each new root signed by the keys of the one before.
   */
  private async trustPinnedRoot (fetchServed: ServedFetch): Promise<void> {
    if (await readFile(join(this.metadataDir, 'root.json')).then(() => true, () => false)) return
    const pinned = await this.pinned()
    if (pinned === undefined) throw new NotPinnedError('this node has no pinned mesh root: it takes no skill updates (a node joined with an invite from a master\'s tree pins it)')
    const current = await fetchServed(servedPaths.currentRoot)
    if (current === undefined) throw new NotPinnedError('the parent serves no skills root')
    const newest = rootVersion(current)
    let root: Uint8Array | undefined = current
    for (let version = newest - 1; sha256(root) !== pinned && version >= Math.max(1, newest - MAX_ROOT_ROTATIONS); version--) {
      root = await fetchServed(servedPaths.root(version))
      if (root === undefined) break
    }
    if (root === undefined || sha256(root) !== pinned) throw new NotPinnedError(`the parent's skills root (${sha256(current).slice(0, 12)}…) is not the pinned one (${pinned.slice(0, 12)}…), nor one it replaced: another mesh's, or forged`)
    await writeFileAtomic(join(this.metadataDir, 'root.json'), root)
  }

  /**
   * Serves on exactly what verified: targets first, then metadata, the timestamp last, so a child never sees a half
   * mirror. Not flushed to disk: every child verifies all of it again, and the next update writes it anew.
   */
  private async mirror (fetched: Map<string, Uint8Array>, skills: VerifiedSkill[]): Promise<void> {
    const unflushed = { flush: false }
    for (const skill of skills) await copyFile(skill.file, join(this.served, servedPaths.target(skill.sha256, skill.path)))
    const root = await readFile(join(this.metadataDir, 'root.json'))
    await writeFileAtomic(join(this.served, servedPaths.currentRoot), root, 0o600, unflushed)
    const ordered = [...fetched.keys()].sort((a, b) => Number(a === servedPaths.timestamp) - Number(b === servedPaths.timestamp))
    for (const path of ordered) {
      const bytes = fetched.get(path)
      if (bytes !== undefined) await writeFileAtomic(join(this.served, path), bytes, 0o600, unflushed)
    }
    // the versioned root a child starting from the same pin asks for first
    await writeFileAtomic(join(this.served, servedPaths.root(rootVersion(root))), root, 0o600, unflushed)
  }
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')
const RootVersionSchema = z.object({ signed: z.object({ version: z.number().int().min(1) }) })
/** The version a root's metadata gives itself (1 when it cannot be read: the TUF client judges it properly). */
const rootVersion = (root: Uint8Array): number => {
  try {
    return RootVersionSchema.parse(JSON.parse(Buffer.from(root).toString('utf8'))).signed.version
  } catch {
    return 1
  }
}
