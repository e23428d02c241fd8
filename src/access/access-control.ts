import { ipMatcher, ipOf } from './ip.ts'
import { defaultPermissions, permissionNamed, type Permissions } from './permissions.ts'
import type { TrustStore } from './trust-store.ts'
import type { Logger } from '../common/index.ts'
import type { FigureRegistry } from '../observe/index.ts'
import type { Admission, GuardRequest, Hello, LinkErrorCode, LinkRole, Need, Verdict } from '../routing/index.ts'
import type { MultiaddrConnection, PeerId } from '@libp2p/interface'

/** This many violations within the window cut a peer off. */
export const VIOLATION_LIMIT = 20
export const VIOLATION_WINDOW_MS = 60_000
export const CUT_OFF_MS = 10 * 60_000

export interface AccessInit {
  store: TrustStore
  log: Logger
  /** lab mode: admit unknown peers as children */
  open?: boolean
  /** if not empty, only these addresses (CIDR or single IPs) may connect at all */
  ipAllow?: string[]
  /** never let these connect, beside the store's blocked list */
  ipDeny?: string[]
  /** only nodes holding the house key finish a handshake (shown in status) */
  houseKey?: boolean
  /** this node is its house's hub: a peer that finished the handshake holds the house key, and is admitted as a room */
  hub?: boolean
  figures: FigureRegistry
}

const ACCESS_COUNTERS = {
  refusedConnections: 'connections refused by address, before any handshake',
  violations: 'frames refused from linked peers',
  cutOffs: 'peers cut off for repeated violations'
}

/** The `access` section of status. */
export type AccessFigures = Record<keyof typeof ACCESS_COUNTERS, number> & {
  refusedLinks: Partial<Record<LinkErrorCode, number>>
  open: boolean
  houseKey: boolean
  cutOff: CutOff[]
}

export interface CutOff {
  peerId: string
  name: string
  reason: string
  until: string
}

interface RateBucket {
  tokens: number
  updatedAt: number
}

/**
 * Decides who may link to this node and what each linked peer may send: admission by the trust store
 * (known peers, one-time invites, or open mode for labs), per-peer permissions and rate limits on every
 * envelope, cutting off peers that keep breaking them, and IP allow/deny lists before any handshake.
 */
export class AccessControl {
  private readonly init: AccessInit
  private readonly counters
  private readonly refusedLinks: Partial<Record<string, number>>
  private readonly log: Logger
  private readonly violations = new Map<string, number[]>()
  private readonly cutOffs = new Map<string, CutOff>()
  private readonly buckets = new Map<string, RateBucket>()
  private allowed: (ip: string) => boolean
  private denied: (ip: string) => boolean

  constructor (init: AccessInit) {
    this.init = init
    this.log = init.log
    this.refusedLinks = init.figures.labelled('access', 'refusedLinks')
    this.counters = init.figures.counters('access', ACCESS_COUNTERS)
    init.figures.reading('access', () => ({ open: init.open === true, houseKey: init.houseKey === true, cutOff: this.cutOffPeers() }))
    this.allowed = ipMatcher(init.ipAllow ?? [])
    this.denied = ipMatcher([...(init.ipDeny ?? []), ...init.store.blockedIps()])
  }

  get store (): TrustStore {
    return this.init.store
  }

  cutOffPeers (): CutOff[] {
    this.forgetExpiredCutOffs()
    return [...this.cutOffs.values()]
  }

  /** Rebuilds the IP lists after the store's blocked list changed. */
  reloadIpLists (): void {
    this.allowed = ipMatcher(this.init.ipAllow ?? [])
    this.denied = ipMatcher([...(this.init.ipDeny ?? []), ...this.init.store.blockedIps()])
  }

  /** For the connection gater: true refuses the connection before any handshake. */
  denyInboundConnection (maConn: MultiaddrConnection): boolean {
    const ip = ipOf(maConn.remoteAddr.toString())
    if (ip === undefined) return false
    const allowed = (this.init.ipAllow ?? []).length === 0 || this.allowed(ip)
    if (allowed && !this.denied(ip)) return false
    this.counters.refusedConnections++
    this.log.warn({ ip }, `refused a connection from ${ip}: ${allowed ? 'the address is blocked' : 'the address is not on the allow list'}`)
    return true
  }

  /** Decides a child's `hello`. */
  async admit (peerId: PeerId, hello: Hello): Promise<Admission> {
    const id = peerId.toString()
    const admission = await this.decide(id, hello)
    if (!admission.ok) {
      this.refusedLinks[admission.code] = (this.refusedLinks[admission.code] ?? 0) + 1
      this.log.warn({ peer: id, claimedName: hello.name, code: admission.code }, `refused a link from ${id}: ${admission.message}`)
    }
    return admission
  }

  private async decide (peerId: string, hello: Hello): Promise<Admission> {
    this.forgetExpiredCutOffs()
    const cutOff = this.cutOffs.get(peerId)
    if (cutOff !== undefined) {
      return { ok: false, code: 'cut-off', message: `this node cut you off until ${cutOff.until} for repeated violations (${cutOff.reason})` }
    }
    const known = this.init.store.peer(peerId)
    if (known !== undefined && known.revokedAt === null) {
      if (known.role === 'parent') return { ok: false, code: 'refused', message: 'you are this node\'s parent: a parent cannot also link as its child' }
      await this.init.store.touch(peerId)
      return { ok: true, name: known.name }
    }
    if (hello.invite !== undefined) {
      const redeemed = await this.init.store.redeem(hello.invite, peerId)
      if (redeemed.ok) {
        this.log.info({ peer: peerId, role: redeemed.peer.role }, `${redeemed.peer.name} joined with an invite`)
        return { ok: true, name: redeemed.peer.name }
      }
      const hint = redeemed.code === 'name-taken' ? 'ask for an invite with another name' : 'ask for a new one with `mycroft-mesh invite`'
      return { ok: false, code: redeemed.code, message: `${redeemed.message}; ${hint}` }
    }
    if (known !== undefined) {
      return { ok: false, code: 'revoked', message: `this node revoked you on ${known.revokedAt ?? '?'}; you need a new invite (\`mycroft-mesh invite\` on this node, then start with --join TOKEN)` }
    }
    if (this.init.hub === true && this.init.houseKey === true) {
      const holder = this.init.store.find(hello.name)
      if (holder !== undefined && holder.peerId !== peerId) {
        return { ok: false, code: 'name-taken', message: `the house already has a room named '${hello.name}' (${holder.peerId}); start this one with another --name` }
      }
      await this.init.store.remember(peerId, hello.name, 'room')
      this.log.info({ peer: peerId }, `${hello.name} joined the house`)
      return { ok: true }
    }
    if (this.init.open === true) {
      const holder = this.init.store.find(hello.name)
      if (holder !== undefined && holder.peerId !== peerId) return { ok: false, code: 'name-taken', message: `the name '${hello.name}' belongs to another peer; start with another --name` }
      await this.init.store.remember(peerId, hello.name, 'child')
      return { ok: true }
    }
    return { ok: false, code: 'uninvited', message: 'this node does not know you; ask its owner for an invite (`mycroft-mesh invite --name NAME`) and start with --join TOKEN' }
  }

  /** The permissions of a peer; an unknown one (a parent given by address only) gets its role's defaults. */
  permissionsOf (peerId: string, role: LinkRole): Permissions {
    return this.init.store.peer(peerId)?.permissions ?? defaultPermissions(role)
  }

  /** The link's guard: every envelope from an established link, rate first, then what its capability needs. */
  guard (request: GuardRequest): Verdict {
    const permissions = this.permissionsOf(request.peerId, request.role)
    if (!this.takeToken(request.peerId, permissions.framesPerSecond)) {
      return this.violation(request.peerId, 'rate-limited', `more than ${permissions.framesPerSecond} frames per second`)
    }
    return request.need === undefined ? { ok: true } : this.judge(request.peerId, permissions, request.need)
  }

  /**
   * May this peer do what `need` names? Asked for each envelope by the guard, and by a wire protocol when a
   * stream of its own opens (such streams never pass the link's guard).
   */
  authorize (peerId: string, role: LinkRole, need: Need): Verdict {
    return this.judge(peerId, this.permissionsOf(peerId, role), need)
  }

  private judge (peerId: string, permissions: Permissions, need: Need): Verdict {
    if ('busType' in need) {
      return permissions.busTypes.includes(need.busType)
        ? { ok: true }
        : this.violation(peerId, 'forbidden', `you may not send '${need.busType === '' ? '?' : need.busType}' messages to this node's bus`)
    }
    const permission = permissionNamed(need.permission)
    if (permission !== undefined && permissions[permission.field]) return { ok: true }
    return this.violation(peerId, 'forbidden', `you may not ${permission?.doing ?? `use '${need.permission}' on this node`}`)
  }

  /** Forgets a peer's violations and cut-off (after a revoke, or a fresh invite). */
  forgive (peerId: string): void {
    this.violations.delete(peerId)
    this.cutOffs.delete(peerId)
  }

  private violation (peer: string, code: LinkErrorCode, reason: string): Verdict {
    const now = Date.now()
    const recent = (this.violations.get(peer) ?? []).filter(at => now - at < VIOLATION_WINDOW_MS)
    recent.push(now)
    this.violations.set(peer, recent)
    this.counters.violations++
    const name = this.nameOf(peer)
    if (recent.length >= VIOLATION_LIMIT) {
      const until = new Date(now + CUT_OFF_MS).toISOString()
      this.cutOffs.set(peer, { peerId: peer, name, reason, until })
      this.violations.delete(peer)
      this.counters.cutOffs++
      this.log.error({ peer, reason }, `cut ${name} off until ${until}: ${recent.length} violations within ${VIOLATION_WINDOW_MS / 1000} s (last: ${reason})`)
      return { ok: false, code: 'cut-off', message: `cut off until ${until} for repeated violations (${reason})`, cutOff: true }
    }
    if (recent.length === 1 || recent.length % 10 === 0) this.log.warn({ peer, code, violations: recent.length }, `dropped a frame from ${name}: ${reason}`)
    return { ok: false, code, message: reason }
  }

  private nameOf (peerId: string): string {
    return this.init.store.peer(peerId)?.name ?? peerId
  }

  /** A token bucket per peer: `rate` per second on average, bursts up to twice that. */
  private takeToken (peer: string, rate: number): boolean {
    const now = Date.now()
    const bucket = this.buckets.get(peer) ?? { tokens: rate * 2, updatedAt: now }
    bucket.tokens = Math.min(rate * 2, bucket.tokens + (now - bucket.updatedAt) * rate / 1000)
    bucket.updatedAt = now
    this.buckets.set(peer, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  private forgetExpiredCutOffs (): void {
    const now = Date.now()
    for (const [peer, cutOff] of this.cutOffs) if (Date.parse(cutOff.until) <= now) this.cutOffs.delete(peer)
  }
}
