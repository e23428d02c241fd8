import { createHash } from 'node:crypto'
import { copyFile, mkdir, readFile, rm, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models'
import * as z from 'zod'
import { UserError, writeFileAtomic } from '../common/index.ts'
import { EXPIRY_MS, SPEC_VERSION, TIMESTAMP_REFRESH_SHARE } from './constants.ts'
import { loadRoleKey, newRoleKey, type RoleKey } from './keys.ts'

export const ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const
export type Role = typeof ROLES[number]
/** The roles whose keys may be many, any `threshold` of them signing; the online roles have one key each. */
const MULTI_KEY_ROLES: readonly Role[] = ['root', 'targets']

export const SkillKindSchema = z.enum(['ovos-wheel', 'archive'])
export type SkillKind = z.infer<typeof SkillKindSchema>

const SkillVersionSchema = z.object({ version: z.string(), kind: SkillKindSchema, path: z.string(), sha256: z.string(), length: z.number(), addedAt: z.string() })
export type SkillVersion = z.infer<typeof SkillVersionSchema>

const StateSchema = z.object({
  thresholds: z.record(z.enum(ROLES), z.number().int().min(1)),
  versions: z.record(z.enum(ROLES), z.number().int().min(0)),
  /** every version each skill was published in, oldest first */
  skills: z.record(z.string(), z.array(SkillVersionSchema)),
  /** the version of each skill the published targets name */
  current: z.record(z.string(), z.string()),
  timestampExpires: z.string().nullable()
})
type State = z.infer<typeof StateSchema>
const KeysSchema = z.record(z.enum(ROLES), z.array(z.string()))
/** A rotation written down before any of it is applied, so that a crash halfway through is finished at the next open. */
const RotationSchema = z.object({ keys: KeysSchema, thresholds: StateSchema.shape.thresholds, rootVersion: z.number().int().min(1), root: z.string() })
type Rotation = z.infer<typeof RotationSchema>

/** Where a published file lies under the served folder, by the names a TUF client with consistent snapshots asks for. */
export const servedPaths = {
  root: (version: number) => `metadata/${version}.root.json`,
  currentRoot: 'metadata/root.json',
  timestamp: 'metadata/timestamp.json',
  snapshot: (version: number) => `metadata/${version}.snapshot.json`,
  targets: (version: number) => `metadata/${version}.targets.json`,
  target: (sha256: string, path: string) => `targets/${sha256}.${path}`
}

/** What a skill file is called and what it is, from its name when the owner did not say. */
export function describeSkillFile (file: string, given: { name?: string, version?: string }): { name: string, version: string, kind: SkillKind } {
  const base = basename(file)
  const wheel = /^(?<name>[A-Za-z0-9_.]+?)-(?<version>\d[\w.+]*)-[^-]+-[^-]+-[^-]+\.whl$/.exec(base)
  const archive = /^(?<name>[A-Za-z0-9_.-]+?)-(?<version>\d[\w.+]*)\.(tar\.gz|tgz)$/.exec(base)
  const found = wheel?.groups ?? archive?.groups
  const name = given.name ?? found?.name?.replace(/_/g, '-')
  const version = given.version ?? found?.version
  if (name === undefined || version === undefined) throw new UserError(`cannot tell the skill's name and version from '${base}'; name it NAME-VERSION-py3-none-any.whl or NAME-VERSION.tar.gz, or give --name and --version`, 2)
  if (!/^[a-z0-9][a-z0-9._-]{0,99}$/i.test(name) || !/^[\w.+-]{1,64}$/.test(version)) throw new UserError(`'${name}' ${version}: a skill's name takes letters, digits, dots, dashes and underscores`, 2)
  return { name, version, kind: wheel !== null || base.endsWith('.whl') ? 'ovos-wheel' : 'archive' }
}

/**
 * The master's side of the skills exchange, which tuf-js does not provide: the mesh's TUF role keys, the skill
 * files it publishes, and the signed metadata for them (root, targets, snapshot, timestamp; consistent snapshots),
 * written into a served folder in the layout a TUF client asks for. Every other node mirrors that folder as it
 * verified it.
 */
export class SkillsRepository {
  readonly dir: string
  readonly served: string
  private readonly statePath: string
  private readonly keysPath: string
  private readonly rotationPath: string
  private state!: State
  /** a rotation written down and not yet wholly applied: every signing finishes it first */
  private pendingRotation?: Rotation
  private keys!: Record<Role, RoleKey[]>

  private constructor (dir: string) {
    this.dir = dir
    this.served = join(dir, 'served')
    this.statePath = join(dir, 'state.json')
    this.keysPath = join(dir, 'keys.json')
    this.rotationPath = join(dir, 'rotation.json')
  }

  /** Makes the mesh's root of trust: `keys` keys for root and targets (any `threshold` of them sign), one each for snapshot and timestamp. */
  static async init (dir: string, { threshold = 1, keys = 1 }: { threshold?: number, keys?: number } = {}): Promise<SkillsRepository> {
    if (threshold < 1 || keys < threshold) throw new UserError(`--threshold ${threshold} of --keys ${keys}: the threshold must be between 1 and the number of keys`, 2)
    const repository = new SkillsRepository(dir)
    if (await stat(repository.statePath).then(() => true, () => false)) throw new UserError(`this node already has a skills repository in ${dir}; its root is the mesh's: every node pinned it`)
    await mkdir(join(repository.served, 'metadata'), { recursive: true, mode: 0o700 })
    await mkdir(join(repository.served, 'targets'), { recursive: true, mode: 0o700 })
    repository.keys = { root: [], targets: [], snapshot: [], timestamp: [] }
    for (const role of ROLES) repository.keys[role] = newKeys(MULTI_KEY_ROLES.includes(role) ? keys : 1)
    repository.state = {
      thresholds: { root: threshold, targets: threshold, snapshot: 1, timestamp: 1 },
      versions: { root: 1, targets: 0, snapshot: 0, timestamp: 0 },
      skills: {},
      current: {},
      timestampExpires: null
    }
    await writeFileAtomic(repository.keysPath, JSON.stringify(secretsOf(repository.keys), null, 2))
    await repository.serveRoot(rootBytes(repository.keys, repository.state.thresholds, 1, repository.signersOf('root')))
    await repository.signAll()
    return repository
  }

  static async open (dir: string): Promise<SkillsRepository> {
    const repository = new SkillsRepository(dir)
    const [state, keys] = await Promise.all([readFile(repository.statePath, 'utf8'), readFile(repository.keysPath, 'utf8')]).catch(() => {
      throw new UserError(`this node has no skills repository yet; make the mesh's with \`mycroft-mesh skills init\` on the master`)
    })
    repository.state = StateSchema.parse(JSON.parse(state))
    repository.keys = loadKeys(KeysSchema.parse(JSON.parse(keys)))
    const rotation = await readFile(repository.rotationPath, 'utf8').catch(() => undefined)
    if (rotation !== undefined) repository.pendingRotation = RotationSchema.parse(JSON.parse(rotation))
    await repository.finishRotation()
    return repository
  }

  /** The sha256 of the current root metadata, as it is served: what a joining node pins. */
  async rootHash (): Promise<string> {
    return createHash('sha256').update(await readFile(join(this.served, servedPaths.currentRoot))).digest('hex')
  }

  skills (): Record<string, { current: string | undefined, versions: SkillVersion[] }> {
    return Object.fromEntries(Object.entries(this.state.skills).map(([name, versions]) => [name, { current: this.state.current[name], versions }]))
  }

  get timestampVersion (): number {
    return this.state.versions.timestamp
  }

  /** Takes a skill file in; it is published with the next `publish`. */
  async add (file: string, given: { name?: string, version?: string } = {}): Promise<SkillVersion & { name: string }> {
    const { name, version, kind } = describeSkillFile(file, given)
    const bytes = await readFile(file).catch(() => { throw new UserError(`cannot read ${file}`) })
    const sha256 = createHash('sha256').update(bytes).digest('hex')
    const path = basename(file).replace(/[^\w.+-]/g, '_')
    const versions = this.state.skills[name] ?? []
    if (versions.some(known => known.version === version && known.sha256 !== sha256)) throw new UserError(`${name} ${version} was published already with other content; give the new one a new version`, 2)
    await copyFile(file, join(this.served, servedPaths.target(sha256, path)))
    const entry = { version, kind, path, sha256, length: bytes.byteLength, addedAt: new Date().toISOString() }
    this.state.skills[name] = [...versions.filter(known => known.version !== version), entry]
    this.state.current[name] = version
    await this.save()
    return { name, ...entry }
  }

  /** Publishes the previous version of a skill as its newest. */
  async rollback (name: string): Promise<SkillVersion> {
    const versions = this.state.skills[name] ?? []
    const at = versions.findIndex(entry => entry.version === this.state.current[name])
    const previous = at > 0 ? versions[at - 1] : undefined
    if (previous === undefined) throw new UserError(`${name} has no earlier version to go back to`)
    await this.finishRotation()
    this.state.current[name] = previous.version
    await this.save()
    await this.publish()
    return previous
  }

  /**
   * Replaces the keys of the given roles (for root and targets, `keys` of them with a new `threshold` when given)
   * and publishes a new root that names them, signed by the threshold of the old root keys and of the new — as TUF
   * asks, so that every node, trusting the old root, can take the new one — then everything else signed anew. The
   * old keys are forgotten: a leaked one signs nothing any node takes after its next update.
   */
  async rotate (roles: readonly Role[], { keys, threshold }: { keys?: number, threshold?: number } = {}): Promise<{ rootVersion: number, timestampVersion: number }> {
    await this.finishRotation()
    const resized = roles.filter(role => MULTI_KEY_ROLES.includes(role))
    if ((keys !== undefined || threshold !== undefined) && resized.length === 0) throw new UserError('--keys and --threshold apply to the root and targets roles; name one of them', 2)
    const next = { ...this.keys }
    const thresholds = { ...this.state.thresholds }
    for (const role of roles) {
      const count = MULTI_KEY_ROLES.includes(role) ? keys ?? this.keys[role].length : 1
      const needed = MULTI_KEY_ROLES.includes(role) ? threshold ?? Math.min(thresholds[role] ?? 1, count) : 1
      if (needed > count) throw new UserError(`--threshold ${needed} of ${count} key(s) for ${role}: the threshold must be between 1 and the number of keys`, 2)
      next[role] = newKeys(count)
      thresholds[role] = needed
    }
    const oldSigners = this.signersOf('root')
    const newSigners = next.root.slice(0, thresholds.root ?? 1).filter(key => !oldSigners.some(old => old.key.keyID === key.key.keyID))
    const rootVersion = this.state.versions.root + 1
    const rotation = { keys: secretsOf(next), thresholds, rootVersion, root: rootBytes(next, thresholds, rootVersion, [...oldSigners, ...newSigners]) }
    await writeFileAtomic(this.rotationPath, JSON.stringify(rotation))
    this.pendingRotation = rotation
    return { rootVersion, timestampVersion: await this.finishRotation() }
  }

  /** Signs new targets, snapshot and timestamp for the current skills. */
  async publish (): Promise<number> {
    await this.finishRotation()
    return this.signAll()
  }

  private async signAll (): Promise<number> {
    const now = Date.now()
    const versions = this.state.versions
    versions.targets++
    const targets = new Targets({ version: versions.targets, specVersion: SPEC_VERSION, expires: iso(now + EXPIRY_MS.targets) })
    for (const [name, version] of Object.entries(this.state.current)) {
      const entry = this.state.skills[name]?.find(candidate => candidate.version === version)
      if (entry === undefined) continue
      targets.addTarget(new TargetFile({ path: entry.path, length: entry.length, hashes: { sha256: entry.sha256 }, unrecognizedFields: { custom: { name, version, kind: entry.kind } } }))
    }
    const targetsBytes = this.signed(new Metadata(targets), 'targets')
    await writeFileAtomic(join(this.served, servedPaths.targets(versions.targets)), targetsBytes)
    versions.snapshot++
    const snapshot = new Snapshot({ version: versions.snapshot, specVersion: SPEC_VERSION, expires: iso(now + EXPIRY_MS.snapshot), meta: { 'targets.json': new MetaFile({ version: versions.targets }) } })
    const snapshotBytes = this.signed(new Metadata(snapshot), 'snapshot')
    await writeFileAtomic(join(this.served, servedPaths.snapshot(versions.snapshot)), snapshotBytes)
    await this.writeTimestamp(snapshotBytes)
    return versions.timestamp
  }

  /** Signs a new timestamp once the current one has lived half its life, so nodes never see it expire while the master runs. */
  async refreshTimestamp (now = Date.now()): Promise<boolean> {
    const expires = this.state.timestampExpires === null ? 0 : Date.parse(this.state.timestampExpires)
    if (expires - now > EXPIRY_MS.timestamp * (1 - TIMESTAMP_REFRESH_SHARE)) return false
    await this.finishRotation()
    await this.writeTimestamp(await readFile(join(this.served, servedPaths.snapshot(this.state.versions.snapshot))))
    return true
  }

  private async writeTimestamp (snapshotBytes: string | Uint8Array): Promise<void> {
    const now = Date.now()
    this.state.versions.timestamp++
    const timestamp = new Timestamp({
      version: this.state.versions.timestamp,
      specVersion: SPEC_VERSION,
      expires: iso(now + EXPIRY_MS.timestamp),
      snapshotMeta: new MetaFile({ version: this.state.versions.snapshot, length: Buffer.byteLength(snapshotBytes), hashes: { sha256: createHash('sha256').update(snapshotBytes).digest('hex') } })
    })
    this.state.timestampExpires = iso(now + EXPIRY_MS.timestamp)
    await writeFileAtomic(join(this.served, servedPaths.timestamp), this.signed(new Metadata(timestamp), 'timestamp'))
    await this.save()
  }

  /**
   * Applies the rotation written down, if one is (again, after a crash or a failed step: each step writes the same
   * result), and returns the timestamp version it published; with none pending, the current one.
   */
  private async finishRotation (): Promise<number> {
    const rotation = this.pendingRotation
    if (rotation === undefined) return this.state.versions.timestamp
    this.keys = loadKeys(rotation.keys)
    this.state.thresholds = rotation.thresholds
    await writeFileAtomic(this.keysPath, JSON.stringify(rotation.keys, null, 2))
    this.state.versions.root = rotation.rootVersion
    await this.serveRoot(rotation.root)
    const timestampVersion = await this.signAll()
    await rm(this.rotationPath, { force: true })
    this.pendingRotation = undefined
    return timestampVersion
  }

  private async serveRoot (bytes: string): Promise<void> {
    await writeFileAtomic(join(this.served, servedPaths.root(this.state.versions.root)), bytes)
    await writeFileAtomic(join(this.served, servedPaths.currentRoot), bytes)
  }

  /** The role's keys that sign its metadata: as many as its threshold asks. */
  private signersOf (role: Role): RoleKey[] {
    return this.keys[role].slice(0, this.state.thresholds[role] ?? 1)
  }

  private signed (metadata: Metadata<Targets | Snapshot | Timestamp>, role: Role): string {
    return signedBytes(metadata, this.signersOf(role))
  }

  private async save (): Promise<void> {
    await writeFileAtomic(this.statePath, JSON.stringify(this.state, null, 2))
  }
}

/** A root naming these keys and thresholds, signed by `signers`. */
function rootBytes (keys: Record<Role, RoleKey[]>, thresholds: State['thresholds'], version: number, signers: RoleKey[]): string {
  const root = new Root({ version, specVersion: SPEC_VERSION, expires: iso(Date.now() + EXPIRY_MS.root), consistentSnapshot: true })
  for (const role of ROLES) {
    for (const key of keys[role]) root.addKey(key.key, role)
    // @tufjs/models types the threshold read-only, but a new root's roles are plain fields until it is signed
    const entry = root.roles[role] as { threshold: number } | undefined
    if (entry !== undefined) entry.threshold = thresholds[role] ?? 1
  }
  return signedBytes(new Metadata(root), signers)
}

/** The metadata signed by each of `signers`, as the bytes that are served. */
function signedBytes (metadata: Metadata<Root | Targets | Snapshot | Timestamp>, signers: RoleKey[]): string {
  for (const key of signers) metadata.sign(key.signer)
  return JSON.stringify(metadata.toJSON())
}

const newKeys = (count: number): RoleKey[] => Array.from({ length: count }, newRoleKey)
const secretsOf = (keys: Record<Role, RoleKey[]>): Record<Role, string[]> => Object.fromEntries(ROLES.map(role => [role, keys[role].map(key => key.secret)])) as Record<Role, string[]>
const loadKeys = (secrets: Partial<Record<Role, string[]>>): Record<Role, RoleKey[]> => Object.fromEntries(ROLES.map(role => [role, (secrets[role] ?? []).map(loadRoleKey)])) as Record<Role, RoleKey[]>

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
