import { parseUntrusted } from '../common/index.ts'
import { serviceCapabilities } from '@libp2p/interface'
import {
  HANDSHAKE_TIMEOUT_MS, HEARTBEAT_INTERVAL_MS, LINK_PROTOCOL, MAX_FRAME_BYTES,
  MAX_INBOUND_LINKS_PER_CONNECTION, MAX_OUTBOUND_LINKS_PER_CONNECTION, MISSED_BEATS
} from './constants.ts'
import { LinkSession, RemoteError } from './link-session.ts'
import { ErrorBodySchema, HelloSchema, LinkKind, WelcomeSchema, type Hello, type LinkErrorCode, type Verdict, type Welcome } from './messages.ts'
import type { Envelope } from './envelope.ts'
import type { Logger } from '../common/index.ts'
import type { Connection, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

/** `name`: what this node calls the child, when it knows it by another name than the one in its hello. */
export type Admission = { ok: true, name?: string } | { ok: false, code: LinkErrorCode, message: string }

export interface LinkInit {
  /** what this node says about itself in `hello` and `welcome` */
  self: Welcome
  log: Logger
  maxFrameBytes?: number
  heartbeatMs?: number
  missedBeats?: number
  handshakeTimeoutMs?: number
  /** decides whether a peer may link as a child; everyone may when it is not given */
  admit?: (peer: PeerId, hello: Hello) => Admission | Promise<Admission>
  /** judges every envelope on an established link, both ways */
  guard?: (envelope: Envelope, session: LinkSession) => Verdict
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
  session: LinkSession
}

export interface ParentLinkSession {
  peerId: string
  remoteAddr: string
  welcome: Welcome
  session: LinkSession
}

export type EnvelopeHandler = (envelope: Envelope, session: LinkSession) => void | Promise<void>

export interface LinkCounters {
  /** frames of a kind no handler serves */
  unknownKinds: number
  /** replies that name no request waiting on this node (late or forged) */
  unknownReplies: number
  refusedChildren: number
}

/** The parent refused our `hello`, or did not answer it with a `welcome`. */
export class LinkRefusedError extends RemoteError {
  constructor (code: string, message: string) {
    super(code, message)
    this.name = 'LinkRefusedError'
  }
}

/**
 * The `/mycroft-mesh/link/1.0.0` service: accepts children, opens the link to a parent, and hands every
 * envelope of a registered kind to its handler. Unknown kinds are answered with an `error` frame.
 */
export class LinkService implements Startable {
  readonly [Symbol.toStringTag] = 'mycroft-mesh/link'
  readonly [serviceCapabilities] = ['@mycroft-mesh/link']
  readonly counters: LinkCounters = { unknownKinds: 0, unknownReplies: 0, refusedChildren: 0 }

  private readonly components: LinkComponents
  private readonly init: LinkInit
  private readonly log: Logger
  private readonly handlers = new Map<string, EnvelopeHandler>()
  private readonly childLinks = new Map<string, ChildLink>()
  private readonly childNames = new Map<string, string>()

  constructor (components: LinkComponents, init: LinkInit) {
    this.components = components
    this.init = init
    this.log = init.log
  }

  get children (): ReadonlyMap<string, ChildLink> {
    return this.childLinks
  }

  /** A linked child by peer id, or else by name. */
  child (nameOrPeerId: string): ChildLink | undefined {
    const byId = this.childLinks.get(nameOrPeerId)
    if (byId !== undefined) return byId
    const peerId = this.childNames.get(nameOrPeerId)
    return peerId === undefined ? undefined : this.childLinks.get(peerId)
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(LINK_PROTOCOL, (stream, connection) => { this.handleInbound(stream, connection) }, {
      maxInboundStreams: MAX_INBOUND_LINKS_PER_CONNECTION,
      maxOutboundStreams: MAX_OUTBOUND_LINKS_PER_CONNECTION
    })
  }

  async stop (): Promise<void> {
    await this.components.registrar.unhandle(LINK_PROTOCOL)
    await Promise.all([...this.childLinks.values()].map(async child => child.session.close('the parent is shutting down')))
  }

  /** Ends a child's link at once, telling it why. */
  async dropChild (peerId: string, reason: string, code: LinkErrorCode = 'refused'): Promise<boolean> {
    const child = this.childLinks.get(peerId)
    if (child === undefined) return false
    await child.session.sendError(code, reason)
    await child.session.close(reason, { bye: false })
    return true
  }

  /** Serves envelopes of `kind` arriving on any link. */
  handleKind (kind: string, handler: EnvelopeHandler): void {
    this.handlers.set(kind, handler)
  }

  /** Dials a parent, says hello (with an invite's secret when joining) and resolves once it has welcomed us. */
  async linkToParent (addrs: Multiaddr[], options: { signal?: AbortSignal, invite?: string } = {}): Promise<ParentLinkSession> {
    const connection = await this.components.connectionManager.openConnection(addrs, { signal: options.signal })
    const stream = await connection.newStream(LINK_PROTOCOL, { signal: options.signal })
    const session = this.createSession(stream, connection)
    try {
      const hello: Hello = options.invite === undefined ? this.init.self : { ...this.init.self, invite: options.invite }
      const reply = await session.request(LinkKind.hello, hello, {
        timeoutMs: this.init.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
        signal: options.signal
      })
      const welcome = parseUntrusted(WelcomeSchema, reply.body)
      if (reply.kind !== LinkKind.welcome || !welcome.success) {
        throw new LinkRefusedError('handshake', `the parent answered hello with an unreadable ${reply.kind}`)
      }
      session.guard = this.init.guard
      session.startHeartbeat()
      return { peerId: session.remotePeer, remoteAddr: connection.remoteAddr.toString(), welcome: welcome.data, session }
    } catch (err) {
      session.abort(err instanceof Error ? err.message : String(err))
      if (err instanceof RemoteError && !(err instanceof LinkRefusedError)) throw new LinkRefusedError(err.code, err.message)
      throw err
    }
  }

  private handleInbound (stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer
    const session = this.createSession(stream, connection, async (envelope, session) => this.handshake(envelope, session, peer, connection))
    const timer = setTimeout(() => {
      if (!this.childLinks.has(session.remotePeer) || this.childLinks.get(session.remotePeer)?.session !== session) {
        this.log.warn({ peer: session.remotePeer }, 'closing link: no hello in time')
        void session.sendError('handshake', 'no hello in time').then(async () => session.close('no hello in time', { bye: false }))
      }
    }, this.init.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS)
    void session.closed.then(() => { clearTimeout(timer) })
  }

  private async handshake (envelope: Envelope, session: LinkSession, peer: PeerId, connection: Connection): Promise<void> {
    if (this.childLinks.get(session.remotePeer)?.session === session) {
      await this.dispatch(envelope, session)
      return
    }
    if (envelope.kind !== LinkKind.hello) {
      this.log.warn({ peer: session.remotePeer, kind: envelope.kind }, `closing link: ${envelope.kind} before hello`)
      await session.sendError('handshake', `expected hello, got ${envelope.kind}`, envelope.id)
      await session.close(`${envelope.kind} before hello`, { bye: false })
      return
    }
    const hello = parseUntrusted(HelloSchema, envelope.body)
    if (!hello.success) {
      const reason = `hello field '${hello.error.issues[0]?.path.join('.')}': ${hello.error.issues[0]?.message}`
      this.log.warn({ peer: session.remotePeer, reason }, 'closing link: unreadable hello')
      await session.sendError('invalid', reason, envelope.id)
      await session.close('unreadable hello', { bye: false })
      return
    }
    const admission = await (this.init.admit?.(peer, hello.data) ?? { ok: true as const })
    // the peer may have gone while its admission was being decided
    if (!session.isOpen) return
    if (!admission.ok) {
      this.counters.refusedChildren++
      this.log.warn({ peer: session.remotePeer, peerName: hello.data.name, code: admission.code, reason: admission.message }, 'refused a child')
      await session.sendError(admission.code, admission.message, envelope.id)
      await session.close(admission.message, { bye: false })
      return
    }

    const previous = this.childLinks.get(session.remotePeer)
    const child: ChildLink = {
      peerId: session.remotePeer,
      name: admission.name ?? hello.data.name,
      hello: hello.data,
      remoteAddr: connection.remoteAddr.toString(),
      since: Date.now(),
      session
    }
    this.childLinks.set(child.peerId, child)
    this.childNames.set(child.name, child.peerId)
    void session.closed.then(reason => {
      if (this.childLinks.get(child.peerId)?.session !== session) return
      this.childLinks.delete(child.peerId)
      if (this.childNames.get(child.name) === child.peerId) this.childNames.delete(child.name)
      this.log.info({ peer: child.peerId, reason }, `child ${child.name} unlinked`)
    })
    if (previous !== undefined) void previous.session.close('replaced by a newer link from the same peer')
    session.guard = this.init.guard
    await session.reply(envelope, LinkKind.welcome, this.init.self).catch(() => {})
    session.startHeartbeat()
    this.log.info({ peer: child.peerId, addr: child.remoteAddr }, `child ${child.name} linked`)
  }

  private createSession (stream: Stream, connection: Connection, onEnvelope?: EnvelopeHandler): LinkSession {
    return new LinkSession({
      stream,
      localPeer: this.components.peerId.toString(),
      remotePeer: connection.remotePeer.toString(),
      maxFrameBytes: this.init.maxFrameBytes ?? MAX_FRAME_BYTES,
      heartbeatMs: this.init.heartbeatMs ?? HEARTBEAT_INTERVAL_MS,
      missedBeats: this.init.missedBeats ?? MISSED_BEATS,
      log: this.log,
      onEnvelope: onEnvelope ?? (async (envelope, session) => this.dispatch(envelope, session))
    })
  }

  private async dispatch (envelope: Envelope, session: LinkSession): Promise<void> {
    if (envelope.kind === LinkKind.error) {
      const body = parseUntrusted(ErrorBodySchema, envelope.body)
      this.log.warn({ peer: session.remotePeer, code: body.data?.code, reason: body.data?.message }, 'the other side reported an error')
      return
    }
    if (envelope.re !== undefined) {
      this.counters.unknownReplies++
      this.log.warn({ peer: session.remotePeer, kind: envelope.kind, re: envelope.re }, 'dropped a reply to no request waiting here (late or unknown)')
      return
    }
    const handler = this.handlers.get(envelope.kind)
    if (handler === undefined) {
      this.counters.unknownKinds++
      this.log.warn({ peer: session.remotePeer, kind: envelope.kind }, 'dropped an envelope of unknown kind')
      await session.sendError('unknown-kind', `this node does not serve '${envelope.kind}' envelopes`, envelope.id)
      return
    }
    await handler(envelope, session)
  }
}
