import { BlockList, isIP } from 'node:net'
import { defaultPermissions, type Permissions } from './permissions.ts'
import type { PeerRecord, TrustStore } from './trust-store.ts'
import type { Logger } from '../common/index.ts'
import type { Admission, Envelope, Hello, LinkErrorCode, LinkSession, Verdict } from '../routing/index.ts'
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
}

export interface AccessCounters {
  refusedLinks: Partial<Record<LinkErrorCode, number>>
  refusedConnections: number
  violations: number
  cutOffs: number
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

/** A CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address. */
export function parseCidr (text: string): { address: string, prefix: number, family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText] = text.trim().split('/')
  const version = isIP(address)
  if (version === 0) return undefined
  const family = version === 4 ? 'ipv4' : 'ipv6'
  const max = version === 4 ? 32 : 128
  const prefix = prefixText === undefined ? max : Number(prefixText)
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return undefined
  return { address, prefix, family }
}

/** A test for "is this IP inside any of these CIDRs". */
export function ipMatcher (cidrs: readonly string[]): (ip: string) => boolean {
  const list = new BlockList()
  for (const cidr of cidrs) {
    const parsed = parseCidr(cidr)
    if (parsed !== undefined) list.addSubnet(parsed.address, parsed.prefix, parsed.family)
  }
  return ip => list.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6')
}

/** The IP of a multiaddr, e.g. /ip4/1.2.3.4/tcp/5 → 1.2.3.4. */
export function ipOf (addr: string): string | undefined {
  const [, kind, address] = addr.split('/')
  return kind === 'ip4' || kind === 'ip6' ? address : undefined
}

/**
 * Decides who may link to this node and what each linked peer may send: admission by the trust store
 * (known peers, one-time invites, or open mode for labs), per-peer permissions and rate limits on every
 * envelope, cutting off peers that keep breaking them, and IP allow/deny lists before any handshake.
 */
export class AccessControl {
  readonly counters: AccessCounters = { refusedLinks: {}, refusedConnections: 0, violations: 0, cutOffs: 0 }
  private readonly init: AccessInit
  private readonly log: Logger
  private readonly violations = new Map<string, number[]>()
  private readonly cutOffs = new Map<string, CutOff>()
  private readonly buckets = new Map<string, RateBucket>()
  private allowed: (ip: string) => boolean
  private denied: (ip: string) => boolean

  constructor (init: AccessInit) {
    this.init = init
    this.log = init.log
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
      this.counters.refusedLinks[admission.code] = (this.counters.refusedLinks[admission.code] ?? 0) + 1
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
    if (this.init.open === true) {
      const holder = this.init.store.find(hello.name)
      if (holder !== undefined && holder.peerId !== peerId) return { ok: false, code: 'name-taken', message: `the name '${hello.name}' belongs to another peer; start with another --name` }
      await this.init.store.remember(peerId, hello.name, 'child')
      return { ok: true }
    }
    return { ok: false, code: 'uninvited', message: 'this node does not know you; ask its owner for an invite (`mycroft-mesh invite --name NAME`) and start with --join TOKEN' }
  }

  /** The permissions of a linked peer; an unknown one (a parent given by address only) gets its role's defaults. */
  permissionsOf (session: LinkSession, role: 'parent' | 'child'): Permissions {
    return this.init.store.peer(session.remotePeer)?.permissions ?? defaultPermissions(role)
  }

  /** Judges one envelope from an established link: rate first, then what the kind needs. */
  guard (envelope: Envelope, session: LinkSession, role: 'parent' | 'child'): Verdict {
    const permissions = this.permissionsOf(session, role)
    const peer = session.remotePeer
    if (!this.takeToken(peer, permissions.framesPerSecond)) {
      return this.violation(session, 'rate-limited', `more than ${permissions.framesPerSecond} frames per second`)
    }
    switch (envelope.kind) {
      case 'ask':
        return permissions.ask ? { ok: true } : this.violation(session, 'forbidden', 'you may not ask this node questions')
      case 'bus': {
        const type = busTypeOf(envelope.body)
        return type !== undefined && permissions.busTypes.includes(type)
          ? { ok: true }
          : this.violation(session, 'forbidden', `you may not send '${type ?? '?'}' messages to this node's bus`)
      }
      default:
        return { ok: true }
    }
  }

  /** Forgets a peer's violations and cut-off (after a revoke, or a fresh invite). */
  forgive (peerId: string): void {
    this.violations.delete(peerId)
    this.cutOffs.delete(peerId)
  }

  private violation (session: LinkSession, code: LinkErrorCode, reason: string): Verdict {
    const peer = session.remotePeer
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

function busTypeOf (body: unknown): string | undefined {
  const message = (body as { message?: { type?: unknown } } | undefined)?.message
  return typeof message?.type === 'string' ? message.type : undefined
}

export type { PeerRecord }
