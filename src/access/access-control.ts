import { AdmissionThrottle } from './admission-throttle.ts'
import { ipMatcher, ipOf } from './ip.ts'
import { LogLimiter, setBounded, TokenBucket } from '../common/index.ts'
import { defaultPermissions, permissionNamed, type Permissions } from './permissions.ts'
import type { TrustStore } from './trust-store.ts'
import type { Logger } from '../common/index.ts'
import type { FigureRegistry } from '../observe/index.ts'
import type { Admission, GuardRequest, Hello, HelloSeen, LinkErrorCode, LinkRole, Need, Verdict } from '../routing/index.ts'
import type { MultiaddrConnection, PeerId } from '@libp2p/interface'

/** This many violations within the window cut a peer off. */
export const VIOLATION_LIMIT = 20
export const VIOLATION_WINDOW_MS = 60_000
export const CUT_OFF_MS = 10 * 60_000
/** Strangers (peers this node does not know) may hold at most this share of the connections; the rest wait for the house. */
const STRANGER_SHARE = 0.5
const MAX_RATES = 16_384

export interface AccessInit {
  store: TrustStore
  log: Logger
  /** lab mode: admit unknown peers as children */
  open?: boolean
  /** if not empty, only these addresses (CIDR or single IPs) may connect at all */
  ipAllow?: string[]
  /** never let these connect, beside the store's blocked list */
  ipDeny?: string[]
  /** this node holds a house key (shown in status) */
  houseKey?: boolean
  /** this node is its house's hub: a peer whose hello proves it holds the house key is admitted as a room */
  hub?: boolean
  /** the node's connection limit: strangers may take only part of it */
  maxConnections?: number
  /** message types every child may send for this node's skills to answer (a computational server's requests) */
  servedTypes?: string[]
  /** message types the parent may send this node's bus later, beside those its permissions name */
  deliveredTypes?: string[]
  figures: FigureRegistry
  /** hears each refused link and each refused frame (for the live page) */
  onRefusal?: (refusal: Refusal) => void
}

/** A link or a frame this node refused, and why. */
export interface Refusal {
  peer: string
  code: string
  reason: string
  at: string
}

const ACCESS_COUNTERS = {
  refusedConnections: 'connections refused by address, before any handshake',
  failedHandshakes: 'connections that never finished the encrypted handshake',
  strangersTurnedAway: 'connections from unknown peers refused because strangers held their share of the slots',
  busy: 'frames over a peer\'s rate, answered busy',
  violations: 'frames refused from linked peers',
  cutOffs: 'peers cut off for repeated violations',
  throttled: 'hellos refused at once after repeated failed admissions or too many links a minute'
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

interface Rate {
  bucket: TokenBucket
  framesPerSecond: number
  /** frames over the rate within the violation window: busy, not counted, until a flood of them is */
  over: number
  windowStart: number
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
  private readonly rates = new Map<string, Rate>()
  private readonly throttle = new AdmissionThrottle()
  private readonly repeats: LogLimiter
  /** open connections of peers this node does not know */
  private readonly strangers = new Set<MultiaddrConnection>()
  /** inbound connections not yet through the encrypted handshake */
  private readonly handshaking = new Set<MultiaddrConnection>()
  private allowed: (ip: string) => boolean
  private denied: (ip: string) => boolean

  constructor (init: AccessInit) {
    this.init = init
    this.log = init.log
    this.repeats = new LogLimiter(init.log)
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
    if (allowed && !this.denied(ip)) {
      this.watchHandshake(maConn, ip)
      return false
    }
    this.counters.refusedConnections++
    this.repeats.note(`refused-ip:${ip}`, 'warn', { ip }, `refused a connection from ${ip}: ${allowed ? 'the address is blocked' : 'the address is not on the allow list'}`)
    return true
  }

  /** A connection that closes before it was ever encrypted never finished the handshake: count it, and say so once in a while. */
  private watchHandshake (maConn: MultiaddrConnection, ip: string): void {
    this.handshaking.add(maConn)
    maConn.addEventListener('close', () => {
      if (!this.handshaking.delete(maConn)) return
      this.counters.failedHandshakes++
      this.repeats.note('failed-handshake', 'warn', { ip }, `a connection from ${ip} never finished the encrypted handshake (not a mesh node, or a broken connection)`)
    }, { once: true })
  }

  /**
   * For the connection gater, once the peer is known by its key: strangers may hold only their share of the
   * connection slots, so that a crowd of them can never keep the house's own nodes out.
   */
  denyInboundEncryptedConnection (peerId: PeerId, maConn: MultiaddrConnection): boolean {
    this.handshaking.delete(maConn)
    const known = this.init.store.peer(peerId.toString())
    if (known !== undefined && known.revokedAt === null) return false
    const slots = Math.max(1, Math.floor((this.init.maxConnections ?? Infinity) * STRANGER_SHARE))
    if (this.strangers.size >= slots) {
      this.counters.strangersTurnedAway++
      this.repeats.note('strangers-full', 'warn', { peer: peerId.toString() }, `refused a connection from an unknown peer: strangers already hold ${slots} connections, the rest are kept for known nodes`)
      return true
    }
    this.strangers.add(maConn)
    maConn.addEventListener('close', () => { this.strangers.delete(maConn) }, { once: true })
    return false
  }

  /** Decides a child's `hello`. */
  async admit (peerId: PeerId, hello: Hello, { remoteAddr, houseMember }: HelloSeen): Promise<Admission> {
    const id = peerId.toString()
    // a known peer is not kept out by what strangers from its address did
    const known = this.init.store.peer(id)
    const ip = known !== undefined && known.revokedAt === null ? undefined : ipOf(remoteAddr)
    const waitMs = this.throttle.waitMs(id, ip)
    if (waitMs > 0) {
      this.counters.throttled++
      const admission: Admission = { ok: false, code: 'rate-limited', message: `too many failed attempts to link from here; try again in ${Math.ceil(waitMs / 1000)} s`, retryAfterMs: waitMs }
      return this.refused(id, hello, admission)
    }
    const admission = await this.decide(id, hello, houseMember)
    if (!admission.ok) {
      if (admission.code !== 'name-taken') this.throttle.failed(id, ip)
      return this.refused(id, hello, admission)
    }
    const relinkWaitMs = this.throttle.linked(id)
    if (relinkWaitMs > 0) {
      this.counters.throttled++
      return this.refused(id, hello, { ok: false, code: 'rate-limited', message: `you linked too often in the last minute; try again in ${Math.ceil(relinkWaitMs / 1000)} s`, retryAfterMs: relinkWaitMs })
    }
    return admission
  }

  private refused (peerId: string, hello: Hello, admission: Admission & { ok: false }): Admission {
    this.refusedLinks[admission.code] = (this.refusedLinks[admission.code] ?? 0) + 1
    this.init.onRefusal?.({ peer: hello.name, code: admission.code, reason: admission.message, at: new Date().toISOString() })
    this.repeats.note(`refused:${admission.code}:${peerId}`, 'warn', { peer: peerId, claimedName: hello.name, code: admission.code }, `refused a link from ${peerId}: ${admission.message}`)
    return admission
  }

  private async decide (peerId: string, hello: Hello, houseMember: boolean | undefined): Promise<Admission> {
    this.forgetExpiredCutOffs()
    const cutOff = this.cutOffs.get(peerId)
    if (cutOff !== undefined) {
      return { ok: false, code: 'cut-off', message: `this node cut you off until ${cutOff.until} for repeated violations (${cutOff.reason})` }
    }
    const known = this.init.store.peer(peerId)
    const house = this.init.hub === true && this.init.houseKey === true
    if (house && houseMember === false) {
      return { ok: false, code: 'house-key', message: 'your house key is not this house\'s: every node of the house needs the very same --house-key file' }
    }
    if (house && known?.role === 'room' && houseMember !== true) {
      return { ok: false, code: 'house-key', message: 'a room of this house proves it holds the house key; start with --house-key and the house\'s key file' }
    }
    if (known !== undefined && known.revokedAt === null) {
      if (known.role === 'parent') return { ok: false, code: 'refused', message: 'you are this node\'s parent: a parent cannot also link as its child' }
      this.init.store.seen(peerId)
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
    if (house && houseMember === true) {
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
    const peer = this.init.store.peer(peerId)
    const permissions = peer === undefined ? defaultPermissions(role) : { ...peer.permissions, files: peer.permissions.files ?? defaultPermissions(peer.role).files }
    const types = role === 'parent' ? this.init.deliveredTypes : this.init.servedTypes
    return types === undefined ? permissions : { ...permissions, busTypes: [...new Set([...permissions.busTypes, ...types])] }
  }

  /** The frames per second a peer of one node may send (a child's limit grows with its subtree). */
  framesPerSecond (peerId: string, role: LinkRole): number {
    return this.permissionsOf(peerId, role).framesPerSecond
  }

  /** The link's guard: every envelope from an established link, rate first, then what its capability needs. */
  guard (request: GuardRequest): Verdict {
    const permissions = this.permissionsOf(request.peerId, request.role)
    const busy = this.overRate(request.peerId, permissions.framesPerSecond * Math.max(1, request.weight))
    if (busy !== undefined) return busy
    return request.need === undefined ? { ok: true } : this.judge(request.peerId, permissions, request.need)
  }

  /** A frame that broke the protocol on an established link. */
  breach (peerId: string, code: LinkErrorCode, reason: string): Verdict {
    return this.violation(peerId, code, reason)
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
    this.init.onRefusal?.({ peer: name, code, reason, at: new Date(now).toISOString() })
    if (recent.length >= VIOLATION_LIMIT) {
      const until = new Date(now + CUT_OFF_MS).toISOString()
      this.cutOffs.set(peer, { peerId: peer, name, reason, until })
      this.violations.delete(peer)
      this.counters.cutOffs++
      this.log.error({ peer, reason }, `cut ${name} off until ${until}: ${recent.length} violations within ${VIOLATION_WINDOW_MS / 1000} s (last: ${reason})`)
      return { ok: false, code: 'cut-off', message: `cut off until ${until} for repeated violations (${reason})`, cutOff: true }
    }
    this.repeats.note(`violation:${peer}:${code}`, 'warn', { peer, code, violations: recent.length }, `dropped a frame from ${name}: ${reason}`)
    return { ok: false, code, message: reason }
  }

  private nameOf (peerId: string): string {
    return this.init.store.peer(peerId)?.name ?? peerId
  }

  /**
   * Undefined while the peer keeps within `framesPerSecond` on average (bursts of twice that pass); else a busy
   * verdict saying when to try again. Only a flood far beyond it counts: one violation for each second's allowance
   * sent over the limit within the window, so VIOLATION_LIMIT of them take VIOLATION_LIMIT seconds' worth of excess.
   */
  private overRate (peer: string, framesPerSecond: number): Verdict | undefined {
    const now = Date.now()
    let rate = this.rates.get(peer)
    if (rate === undefined) {
      rate = { bucket: new TokenBucket(framesPerSecond, framesPerSecond * 2), framesPerSecond, over: 0, windowStart: now }
      // a hub must not keep a bucket for every peer it ever heard from
      setBounded(this.rates, peer, rate, MAX_RATES)
    } else if (rate.framesPerSecond !== framesPerSecond) {
      rate.bucket.reset(framesPerSecond, framesPerSecond * 2)
      rate.framesPerSecond = framesPerSecond
    }
    if (rate.bucket.take()) return undefined
    this.counters.busy++
    if (now - rate.windowStart >= VIOLATION_WINDOW_MS) {
      rate.windowStart = now
      rate.over = 0
    }
    rate.over++
    // a second's allowance sent on top of what was busy, again and again, is a flood: one violation each time
    if (rate.over % framesPerSecond === 0) return this.violation(peer, 'rate-limited', `kept sending far over ${framesPerSecond} frames per second after being told to slow down`)
    const message = `more than ${framesPerSecond} frames per second; slow down`
    return { ok: false, code: 'busy', message, retryAfterMs: Math.max(rate.bucket.waitMs(), 100) }
  }

  private forgetExpiredCutOffs (): void {
    const now = Date.now()
    for (const [peer, cutOff] of this.cutOffs) if (Date.parse(cutOff.until) <= now) this.cutOffs.delete(peer)
  }
}
