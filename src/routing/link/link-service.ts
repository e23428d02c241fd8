import { parseUntrusted } from './untrusted.ts'
import type { Logger } from '../../common/index.ts'
import { serviceCapabilities } from '@libp2p/interface'
import {
  HANDSHAKE_TIMEOUT_MS, HEARTBEAT_INTERVAL_MS, LINK_PROTOCOL, MAX_FRAME_BYTES,
  MAX_INBOUND_LINKS_PER_CONNECTION, MAX_OUTBOUND_LINKS_PER_CONNECTION, MISSED_BEATS, LINK_COUNTERS } from './constants.ts'
import { LinkRefusedError, RemoteError } from './errors.ts'
import { LinkSession } from './link-session.ts'
import { ErrorBodySchema, HelloSchema, LinkKind, WelcomeSchema, type Hello, type LinkErrorCode, type Welcome } from './messages.ts'
import type { LinkCapability, LinkRole } from './capability.ts'
import type { Envelope } from './envelope.ts'
import type { Admission, ChildLink, Link, LinkComponents, LinkInit, ParentLinkSession } from './index.ts'
import type { Connection, PeerId, Startable, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

type EnvelopeHandler = (envelope: Envelope, session: LinkSession) => void | Promise<void>

/**
 * The `/mycroft-mesh/link/1.0.0` service: accepts children, opens the link to a parent, and hands every
 * envelope to the capability that serves its kind once the guard has let it through. Unknown kinds are
 * answered with an `error` frame.
 */
export class LinkService implements Link, Startable {
  readonly [Symbol.toStringTag] = 'mycroft-mesh/link'
  readonly [serviceCapabilities] = ['@mycroft-mesh/link']

  private readonly components: LinkComponents
  private readonly init: LinkInit
  private readonly log: Logger
  private readonly counters
  private readonly capabilities = new Map<string, LinkCapability>()
  private readonly childLinks = new Map<string, ChildLink>()
  private readonly childNames = new Map<string, string>()
  private parentLink?: ParentLinkSession
  private readonly changeListeners = new Set<() => void>()

  constructor (components: LinkComponents, init: LinkInit) {
    this.components = components
    this.init = init
    this.log = init.log
    this.counters = init.figures.counters('link', LINK_COUNTERS)
  }

  get children (): ReadonlyMap<string, ChildLink> {
    return this.childLinks
  }

  get parent (): ParentLinkSession | undefined {
    return this.parentLink
  }

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

  serve (capability: LinkCapability): void {
    for (const kind of capability.kinds) {
      const holder = this.capabilities.get(kind)
      if (holder !== undefined && holder !== capability) throw new Error(`envelope kind '${kind}' is already served by ${holder.capability}`)
      this.capabilities.set(kind, capability)
    }
  }

  unserve (capability: LinkCapability): void {
    for (const kind of capability.kinds) if (this.capabilities.get(kind) === capability) this.capabilities.delete(kind)
  }

  onChange (listener: () => void): () => void {
    this.changeListeners.add(listener)
    return () => { this.changeListeners.delete(listener) }
  }

  private changed (): void {
    for (const listener of this.changeListeners) listener()
  }

  permissionWords (): string[] {
    return [...new Set([...this.capabilities.values()].flatMap(capability => capability.permission ?? []))]
  }

  async dropChild (peerId: string, reason: string, code: LinkErrorCode = 'refused'): Promise<boolean> {
    const child = this.childLinks.get(peerId)
    if (child === undefined) return false
    await child.session.sendError(code, reason)
    await child.session.close(reason, { bye: false })
    return true
  }

  async linkToParent (addrs: Multiaddr[], options: { signal?: AbortSignal, invite?: string } = {}): Promise<ParentLinkSession> {
    const connection = await this.components.connectionManager.openConnection(addrs, { signal: options.signal })
    const stream = await connection.newStream(LINK_PROTOCOL, { signal: options.signal })
    const session = this.createSession(stream, connection)
    try {
      const self = this.self()
      const hello: Hello = options.invite === undefined ? self : { ...self, invite: options.invite }
      const reply = await session.request(LinkKind.hello, hello, {
        timeoutMs: this.init.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
        signal: options.signal
      })
      const welcome = parseUntrusted(WelcomeSchema, reply.body)
      if (reply.kind !== LinkKind.welcome || !welcome.success) {
        throw new LinkRefusedError('handshake', `the parent answered hello with an unreadable ${reply.kind}`)
      }
      this.establish(session, 'parent', welcome.data.capabilities)
      const parent = { peerId: session.remotePeer, remoteAddr: connection.remoteAddr.toString(), welcome: welcome.data, session }
      this.parentLink = parent
      void session.closed.then(() => {
        if (this.parentLink !== parent) return
        this.parentLink = undefined
        this.changed()
      })
      this.changed()
      return parent
    } catch (err) {
      session.abort(err instanceof Error ? err.message : String(err))
      if (err instanceof RemoteError && !(err instanceof LinkRefusedError)) throw new LinkRefusedError(err.code, err.message)
      throw err
    }
  }

  /** What this node says of itself in `hello` and `welcome`: its capabilities are the ones it serves now. */
  private self (): Welcome {
    const words = new Set([...this.capabilities.values()].map(capability => capability.capability))
    return { ...this.init.self, capabilities: [...words] }
  }

  /** The handshake is done: from now on every envelope passes the guard, and the heartbeat runs. */
  private establish (session: LinkSession, role: LinkRole, remoteCapabilities: readonly string[]): void {
    session.remoteCapabilities = remoteCapabilities
    const { guard } = this.init
    if (guard !== undefined) {
      session.guard = envelope => guard({
        peerId: session.remotePeer,
        role,
        kind: envelope.kind,
        need: envelope.re === undefined ? this.capabilities.get(envelope.kind)?.needs(envelope) : undefined
      })
    }
    session.startHeartbeat()
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
    const admission: Admission = await (this.init.admit?.(peer, hello.data) ?? { ok: true })
    // the peer may have gone while its admission was being decided
    if (!session.isOpen) return
    if (!admission.ok) {
      // the admission said why, in its own log line
      this.counters.refusedChildren++
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
      this.changed()
    })
    if (previous !== undefined) void previous.session.close('replaced by a newer link from the same peer')
    await session.reply(envelope, LinkKind.welcome, this.self()).catch(() => {})
    this.establish(session, 'child', hello.data.capabilities)
    this.log.info({ peer: child.peerId, addr: child.remoteAddr }, `child ${child.name} linked`)
    this.changed()
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
    const capability = this.capabilities.get(envelope.kind)
    if (capability === undefined) {
      this.counters.unknownKinds++
      this.log.warn({ peer: session.remotePeer, kind: envelope.kind }, 'dropped an envelope of unknown kind')
      await session.sendError('unknown-kind', `this node does not serve '${envelope.kind}' envelopes`, envelope.id)
      return
    }
    await capability.handle(envelope, session)
  }
}
