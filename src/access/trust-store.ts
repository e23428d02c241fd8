import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import * as z from 'zod'
import { UserError, removeStaleTemps, writeFileAtomic } from '../common/index.ts'
import { PermissionsSchema, RoleSchema, defaultPermissions, type Permissions, type Role } from './permissions.ts'

const PeerRecordSchema = z.object({
  peerId: z.string().min(1).max(128),
  name: z.string().min(1).max(64),
  role: RoleSchema,
  permissions: PermissionsSchema,
  addedAt: z.string(),
  lastSeen: z.string().nullable(),
  /** set by `revoke`: the peer is refused until a new invite is used */
  revokedAt: z.string().nullable()
}).strict()
export type PeerRecord = z.infer<typeof PeerRecordSchema>

const InviteRecordSchema = z.object({
  id: z.string(),
  /** sha256 of the secret, hex: the secret itself is only ever in the token */
  secretHash: z.string().length(64),
  name: z.string().min(1).max(64),
  role: RoleSchema,
  createdAt: z.string(),
  expiresAt: z.string(),
  usedAt: z.string().nullable(),
  usedBy: z.string().nullable()
}).strict()
export type InviteRecord = z.infer<typeof InviteRecordSchema>

const FriendRecordSchema = z.object({
  peerId: z.string().min(1).max(128),
  name: z.string().min(1).max(64),
  /** the message types it may send this node through the mesh */
  types: z.array(z.string().min(1).max(128)).max(64),
  addedAt: z.string()
}).strict()
export type FriendRecord = z.infer<typeof FriendRecordSchema>

const FriendRequestSchema = z.object({
  peerId: z.string().min(1).max(128),
  name: z.string().min(1).max(64),
  firstAt: z.string(),
  lastAt: z.string(),
  attempts: z.number().int().min(1)
}).strict()
export type FriendRequest = z.infer<typeof FriendRequestSchema>

const TrustFileSchema = z.object({
  version: z.literal(1),
  peers: z.array(PeerRecordSchema),
  invites: z.array(InviteRecordSchema),
  blockedIps: z.array(z.string()),
  /** nodes outside the house whose messages this node takes */
  friends: z.array(FriendRecordSchema).default([]),
  /** nodes that tried to reach this node and are not its friends: the owner accepts or declines them */
  friendRequests: z.array(FriendRequestSchema).default([])
}).strict()
type TrustFile = z.infer<typeof TrustFileSchema>

/** Why an invite could not be used; the child is told in these words. */
export type InviteRefusal = 'invite-unknown' | 'invite-used' | 'invite-expired' | 'name-taken'

export type Redemption = { ok: true, peer: PeerRecord } | { ok: false, code: InviteRefusal, message: string }

/** Used invites are kept this long for the "already used" answer, then forgotten. */
const KEEP_SPENT_INVITES_MS = 7 * 24 * 3600_000
/** Last-seen times wait this long in memory for a write (unless another change or the close writes them first). */
const SEEN_WRITE_DELAY_MS = 60_000

const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex')

function sameHash (a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
}

/**
 * The peers a node knows (who they are, their role and permissions), its open invites and its blocked
 * addresses, in one JSON file in the node's home. Every change is written atomically and in order, so a crash
 * at any moment leaves the previous or the new content, never a broken file.
 */
export class TrustStore {
  readonly path: string
  private data!: TrustFile
  /** the peers by peer id: every envelope of every link is judged by its sender's record */
  private byPeerId!: Map<string, PeerRecord>
  private writing: Promise<void> = Promise.resolve()
  /** last-seen times not yet written */
  private readonly seenAt = new Map<string, string>()
  private seenTimer?: ReturnType<typeof setTimeout>
  private readonly batch: Array<{ change: (data: TrustFile) => void, resolve: () => void, reject: (err: Error) => void }> = []

  private constructor (path: string, data: TrustFile) {
    this.path = path
    this.hold(data)
  }

  /** What the file holds now becomes what this store answers from. */
  private hold (data: TrustFile): void {
    this.data = data
    this.byPeerId = new Map(data.peers.map(peer => [peer.peerId, peer]))
  }

  static async open (path: string): Promise<TrustStore> {
    await removeStaleTemps(path)
    let text: string | undefined
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    if (text === undefined) return new TrustStore(path, { version: 1, peers: [], invites: [], blockedIps: [], friends: [], friendRequests: [] })
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new UserError(`the trust store ${path} is not valid JSON; restore it from a backup or move it away (every peer will need a new invite)`)
    }
    const parsed = TrustFileSchema.safeParse(json)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new UserError(`the trust store ${path} is damaged at '${issue?.path.join('.')}': ${issue?.message}; restore it from a backup or move it away`)
    }
    return new TrustStore(path, parsed.data)
  }

  peers (): readonly PeerRecord[] {
    return this.seenAt.size === 0 ? this.data.peers : this.data.peers.map(peer => this.withSeen(peer))
  }

  peer (peerId: string): PeerRecord | undefined {
    const peer = this.byPeerId.get(peerId)
    return peer === undefined ? undefined : this.withSeen(peer)
  }

  private withSeen (peer: PeerRecord): PeerRecord {
    const seen = this.seenAt.get(peer.peerId)
    return seen === undefined ? peer : { ...peer, lastSeen: seen }
  }

  /** A peer by peer id, or else by name. */
  find (nameOrPeerId: string): PeerRecord | undefined {
    const byName = this.data.peers.find(peer => peer.name === nameOrPeerId)
    return this.peer(nameOrPeerId) ?? (byName === undefined ? undefined : this.withSeen(byName))
  }

  invites (): readonly InviteRecord[] {
    return this.data.invites
  }

  blockedIps (): readonly string[] {
    return this.data.blockedIps
  }

  friends (): readonly FriendRecord[] {
    return this.data.friends
  }

  friendRequests (): readonly FriendRequest[] {
    return this.data.friendRequests
  }

  /** Changes the friend list and the requests together, written like every other change. */
  async updateFriends (change: (friends: FriendRecord[], requests: FriendRequest[]) => { friends: FriendRecord[], requests: FriendRequest[] }): Promise<void> {
    await this.update(data => {
      const next = change([...data.friends], [...data.friendRequests])
      data.friends = next.friends
      data.friendRequests = next.requests
    })
  }

  /** Records a peer this node dialed itself (its parent), or one admitted in open mode. */
  async remember (peerId: string, name: string, role: Role): Promise<PeerRecord> {
    const now = new Date().toISOString()
    const existing = this.peer(peerId)
    const record: PeerRecord = existing === undefined
      ? { peerId, name, role, permissions: defaultPermissions(role), addedAt: now, lastSeen: now, revokedAt: null }
      : { ...existing, name, lastSeen: now }
    await this.update(data => { data.peers = [...data.peers.filter(peer => peer.peerId !== peerId), record] })
    return record
  }

  /**
   * A known peer linked again. Kept in memory and written with the next change, or SEEN_WRITE_DELAY_MS later, or at
   * close: a peer that re-links in a loop must not make this node rewrite its trust store on every link.
   */
  seen (peerId: string): void {
    if (!this.byPeerId.has(peerId)) return
    this.seenAt.set(peerId, new Date().toISOString())
    this.seenTimer ??= setTimeout(() => { void this.writeSeen() }, SEEN_WRITE_DELAY_MS).unref()
  }

  /** Writes what is kept in memory (the last-seen times). */
  async close (): Promise<void> {
    await this.writeSeen()
  }

  private async writeSeen (): Promise<void> {
    clearTimeout(this.seenTimer)
    this.seenTimer = undefined
    if (this.seenAt.size === 0) return
    await this.update(() => {})
  }

  /** A new one-time invite; the secret goes into the token and is never stored. */
  async createInvite (name: string, role: Role, ttlMs: number): Promise<{ invite: InviteRecord, secret: string }> {
    const secret = randomBytes(32).toString('base64url')
    const now = Date.now()
    const invite: InviteRecord = {
      id: randomUUID(),
      secretHash: hashSecret(secret),
      name,
      role,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + ttlMs).toISOString(),
      usedAt: null,
      usedBy: null
    }
    await this.update(data => {
      data.invites = [...data.invites.filter(old => now - Date.parse(old.expiresAt) < KEEP_SPENT_INVITES_MS), invite]
    })
    return { invite, secret }
  }

  /** Spends an invite for `peerId`: the peer becomes known under the invite's name and role. */
  async redeem (secret: string, peerId: string): Promise<Redemption> {
    const hash = hashSecret(secret)
    // checked and spent in one turn, so two links presenting the same invite cannot both get in
    return this.exclusive(async () => {
      const invite = this.data.invites.find(candidate => sameHash(candidate.secretHash, hash))
      if (invite === undefined) return { ok: false, code: 'invite-unknown', message: 'this invite is unknown here (forged, or made by another node)' }
      if (invite.usedAt !== null) return { ok: false, code: 'invite-used', message: `this invite was already used on ${invite.usedAt}` }
      if (Date.parse(invite.expiresAt) < Date.now()) return { ok: false, code: 'invite-expired', message: `this invite expired on ${invite.expiresAt}` }
      const holder = this.data.peers.find(peer => peer.name === invite.name && peer.peerId !== peerId && peer.revokedAt === null)
      if (holder !== undefined) return { ok: false, code: 'name-taken', message: `the name '${invite.name}' belongs to another peer (${holder.peerId})` }

      const now = new Date().toISOString()
      const peer: PeerRecord = {
        peerId,
        name: invite.name,
        role: invite.role,
        permissions: defaultPermissions(invite.role),
        addedAt: now,
        lastSeen: now,
        revokedAt: null
      }
      await this.commit(data => {
        data.invites = data.invites.map(candidate => candidate.id === invite.id ? { ...candidate, usedAt: now, usedBy: peerId } : candidate)
        data.peers = [...data.peers.filter(old => old.peerId !== peerId), peer]
      })
      return { ok: true, peer }
    })
  }

  async revoke (nameOrPeerId: string): Promise<PeerRecord | undefined> {
    const peer = this.find(nameOrPeerId)
    if (peer === undefined) return undefined
    const revoked = { ...peer, revokedAt: new Date().toISOString() }
    await this.update(data => { data.peers = data.peers.map(old => old.peerId === peer.peerId ? revoked : old) })
    return revoked
  }

  async setPermissions (peerId: string, change: (permissions: Permissions) => Permissions): Promise<PeerRecord | undefined> {
    const peer = this.peer(peerId)
    if (peer === undefined) return undefined
    const updated = { ...peer, permissions: PermissionsSchema.parse(change(peer.permissions)) }
    await this.update(data => { data.peers = data.peers.map(old => old.peerId === peerId ? updated : old) })
    return updated
  }

  async blockIp (cidr: string): Promise<void> {
    await this.update(data => { data.blockedIps = [...new Set([...data.blockedIps, cidr])] })
  }

  async unblockIp (cidr: string): Promise<boolean> {
    const had = this.data.blockedIps.includes(cidr)
    await this.update(data => { data.blockedIps = data.blockedIps.filter(old => old !== cidr) })
    return had
  }

  /**
   * Group commit: changes that arrive while a write is under way go together into the next write, so a burst of
   * admissions to a busy hub costs a few rewrites of the file instead of one each. Each change still resolves only
   * once the file holds it, in order.
   */
  private async update (change: (data: TrustFile) => void): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.batch.push({ change, resolve, reject })
      if (this.batch.length === 1) void this.exclusive(async () => this.flushBatch())
    })
  }

  private async flushBatch (): Promise<void> {
    const batch = this.batch.splice(0)
    try {
      await this.commit(data => { for (const one of batch) one.change(data) })
      for (const one of batch) one.resolve()
    } catch (err) {
      for (const one of batch) one.reject(err as Error)
    }
  }

  /** Runs `work` after every earlier change has been written, and before any later one starts. */
  private async exclusive<T> (work: () => Promise<T>): Promise<T> {
    const run = this.writing.then(work)
    this.writing = run.then(() => {}, () => {})
    return run
  }

  /** Changes a copy and writes it; the in-memory state moves on only once the file holds it. */
  private async commit (change: (data: TrustFile) => void): Promise<void> {
    const next = structuredClone(this.data)
    change(next)
    const seen = new Map(this.seenAt)
    next.peers = next.peers.map(peer => seen.has(peer.peerId) ? { ...peer, lastSeen: seen.get(peer.peerId) ?? peer.lastSeen } : peer)
    await writeFileAtomic(this.path, `${JSON.stringify(next, null, 2)}\n`, 0o600)
    this.hold(next)
    for (const [peerId, at] of seen) if (this.seenAt.get(peerId) === at) this.seenAt.delete(peerId)
  }
}
