import { LinkService } from './link-service.ts'
import type { LINK_COUNTERS } from './constants.ts'
import type { LinkCapability, LinkGuard, LinkRole, MembershipProof } from './capability.ts'
import type { LinkSession } from './link-session.ts'
import type { Hello, LinkErrorCode, LinkLimits, Verdict, Welcome } from './messages.ts'
import type { Logger } from '../../common/index.ts'
import type { FigureRegistry } from '../../observe/index.ts'
import type { PeerId } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

export { LINK_PROTOCOL, MAX_FRAME_BYTES, DEFAULT_TTL, MAX_TTL, HANDSHAKE_TIMEOUT_MS, HEARTBEAT_INTERVAL_MS, QUIET_BEATS, QUIET_LINKS } from './constants.ts'
export { LinkClosedError, LinkRefusedError, RemoteError, RequestTimeoutError } from './errors.ts'
export { decodeEnvelope, encodeFrame, FrameDecoder, FrameError, type Envelope } from './envelope.ts'
export { LinkKind, NodeNameSchema, type Hello, type Welcome, type LinkErrorCode, type Verdict } from './messages.ts'
export type { LinkSession, RequestOptions, SendOptions } from './link-session.ts'
export { parseUntrusted } from './untrusted.ts'
export { LinkKindService } from './link-kind.ts'
export { forgery, OriginSignatureFields, signAsOrigin } from './origin-signature.ts'
export { MycroftMessageSchema, type LocalBus, type MycroftMessage, type Sender } from './mycroft-message.ts'
export type { GuardRequest, LinkCapability, LinkGuard, LinkRole, MembershipProof, Need, ProofRole } from './capability.ts'

/** The `link` section of status. */
export type LinkFigures = Record<keyof typeof LINK_COUNTERS, number>

/** `name`: what this node calls the child, when it knows it by another name than the one in its hello. */
export type Admission = { ok: true, name?: string } | { ok: false, code: LinkErrorCode, message: string, retryAfterMs?: number }

/** What the link saw of a hello beside its fields. */
export interface HelloSeen {
  remoteAddr: string
  /** the hello proved the sender holds this node's house key; false: it tried with another; undefined: no proof */
  houseMember?: boolean
}

export interface LinkInit {
  /** what this node says about itself in `hello` and `welcome`; its capabilities are the ones it serves */
  self: Omit<Welcome, 'capabilities' | 'limits'>
  log: Logger
  figures: FigureRegistry
  maxFrameBytes?: number
  heartbeatMs?: number
  missedBeats?: number
  handshakeTimeoutMs?: number
  /** decides whether a peer may link as a child; everyone may when it is not given */
  admit?: (peer: PeerId, hello: Hello, seen: HelloSeen) => Admission | Promise<Admission>
  /** this node's house key: it proves itself with it in hello (to a hub) and welcome (as a hub) */
  membership?: MembershipProof
  /** judges every envelope on an established link, both ways */
  guard?: LinkGuard
  /** judges a frame that broke the protocol on an established link (counted toward a cut-off) */
  breach?: (peerId: string, code: LinkErrorCode, reason: string) => Verdict
  /** the frames per second a child of one node may send; stated in `welcome`, times its subtree */
  framesPerSecond?: (peerId: string, role: LinkRole) => number
}

export interface LinkComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
}

export interface ChildLink {
  peerId: string
  name: string
  hello: Hello
  remoteAddr: string
  since: number
  /** how many nodes the child says its subtree holds, itself included (capped at MAX_SUBTREE) */
  subtree: number
  /** what this node told the child it holds it to */
  limits: LinkLimits
  session: LinkSession
}

export interface ParentLinkSession {
  peerId: string
  remoteAddr: string
  welcome: Welcome
  /** the parent proved in its welcome that it is this node's house hub (it holds the house key) */
  houseHub: boolean
  /** what the parent holds this node to, as it said last */
  limits: LinkLimits
  session: LinkSession
}

/** The link between a node and its parent and children, which link kinds (capabilities) ride on. */
export interface Link {
  readonly children: ReadonlyMap<string, ChildLink>
  /** the parent's link while it is up */
  readonly parent: ParentLinkSession | undefined
  /** A linked child by peer id, or else by name. */
  child: (nameOrPeerId: string) => ChildLink | undefined
  /** Serves a capability's envelope kinds and announces its word to every peer that links from now on. */
  serve: (capability: LinkCapability) => void
  unserve: (capability: LinkCapability) => void
  /** Calls `listener` whenever a child or the parent links or unlinks; returns the unsubscribe function. */
  onChange: (listener: () => void) => () => void
  /**
   * Dials a parent, says hello (with an invite's secret when joining, and the house proof when this node holds a
   * house key) and resolves once it has welcomed us; `hub`: the parent must prove it holds the house key too.
   */
  linkToParent: (addrs: Multiaddr[], options?: { signal?: AbortSignal, invite?: string, hub?: boolean }) => Promise<ParentLinkSession>
  /** Tells a linked child the limits it is held to now (after its permissions changed). */
  restateLimits: (peerId: string) => void
  /** Does the node at `addrs` prove it holds this node's house key (a hello as a room, then goodbye)? */
  provesHouse: (addrs: Multiaddr[], signal: AbortSignal) => Promise<boolean>
  /** Ends a child's link at once, telling it why. */
  dropChild: (peerId: string, reason: string, code?: LinkErrorCode) => Promise<boolean>
}

/** The link as a libp2p service: `createLibp2p({ services: { link: link(init) } })`. */
export function link (init: LinkInit): (components: LinkComponents) => Link {
  return (components) => new LinkService(components, init)
}
