import { parseUntrusted } from './untrusted.ts'
import { LogLimiter, type Logger } from '../../common/index.ts'
import { Door } from './door.ts'
import { Heartbeats } from './heartbeat.ts'
import { hidesItsSocket, wireOf, type Wire } from './send-queues.ts'
import { limitsFor, subtreeSize, SubtreeReporter } from './subtree.ts'
import { serviceCapabilities } from '@libp2p/interface'
import {
  HANDSHAKE_TIMEOUT_MS, HEARTBEAT_INTERVAL_MS, LINK_PROTOCOL, MAX_FRAME_BYTES, QUIET_LINKS,
  MAX_INBOUND_LINKS_PER_CONNECTION, MAX_OUTBOUND_LINKS_PER_CONNECTION, MISSED_BEATS, LINK_COUNTERS } from './constants.ts'
import { LinkRefusedError, RemoteError } from './errors.ts'
import { LinkSession } from './link-session.ts'
import {
  ErrorBodySchema, HelloSchema, LinkKind, LinkLimitsSchema, MAX_SUBTREE, SubtreeSchema, WelcomeSchema,
  type Hello, type LinkErrorCode, type LinkLimits, type Self, type Welcome } from './messages.ts'
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
  private readonly repeats: LogLimiter
  private saidSocketHidden = false
  private readonly counters
  private readonly capabilities = new Map<string, LinkCapability>()
  private readonly childLinks = new Map<string, ChildLink>()
  private readonly childNames = new Map<string, string>()
  private parentLink?: ParentLinkSession
  private readonly changeListeners = new Set<() => void>()
  private readonly door: Door
  private readonly welcomed = new WeakSet<LinkSession>()
  /** sessions whose hello could be read: a refusal after it is the admission's business, not a broken handshake */
  private readonly greeted = new WeakSet<LinkSession>()
  private readonly heartbeats: Heartbeats
  private readonly subtree = new SubtreeReporter(() => subtreeSize(this.childLinks.values()), () => this.parentLink)

  constructor (components: LinkComponents, init: LinkInit) {
    this.components = components
    this.init = init
    this.log = init.log
    this.repeats = new LogLimiter(init.log)
    this.counters = init.figures.counters('link', LINK_COUNTERS)
    this.heartbeats = new Heartbeats(init.heartbeatMs ?? HEARTBEAT_INTERVAL_MS)
    this.door = new Door({ windowMs: init.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS, hasLinkOn: connection => this.hasLinkOn(connection), counters: this.counters })
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

  /** Says goodbye to every child before libp2p closes any connection (its parts stop all at once). */
  async beforeStop (): Promise<void> {
    this.subtree.stop()
    await Promise.all([...this.childLinks.values()].map(async child => child.session.close('the parent is shutting down')))
  }

  async stop (): Promise<void> {
    this.heartbeats.stop()
    await this.components.registrar.unhandle(LINK_PROTOCOL)
  }

  serve (capability: LinkCapability): void {
    for (const kind of capability.kinds) {
      if (Object.values<string>(LinkKind).includes(kind)) throw new Error(`envelope kind '${kind}' belongs to the link itself; ${capability.capability} must name its kinds otherwise`)
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
    this.subtree.schedule()
    for (const listener of this.changeListeners) listener()
  }

  async dropChild (peerId: string, reason: string, code: LinkErrorCode = 'refused'): Promise<boolean> {
    const child = this.childLinks.get(peerId)
    if (child === undefined) return false
    await child.session.sendError(code, reason)
    await child.session.close(reason, { bye: false })
    return true
  }

  async linkToParent (addrs: Multiaddr[], options: { signal?: AbortSignal, invite?: string, hub?: boolean } = {}): Promise<ParentLinkSession> {
    const connection = await this.components.connectionManager.openConnection(addrs, { signal: options.signal })
    const stream = await connection.newStream(LINK_PROTOCOL, { signal: options.signal })
    const session = this.createSession(stream, connection)
    try {
      this.subtree.reported = subtreeSize(this.childLinks.values())
      const { membership } = this.init
      const self = this.components.peerId.toString()
      const parentId = connection.remotePeer.toString()
      const hello: Hello = {
        ...this.self(),
        subtree: this.subtree.reported,
        ...(options.invite === undefined ? {} : { invite: options.invite }),
        ...(membership === undefined ? {} : { house: membership.prove('room', self, parentId) })
      }
      const reply = await session.request(LinkKind.hello, hello, {
        timeoutMs: this.init.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
        signal: options.signal
      })
      const welcome = parseUntrusted(WelcomeSchema, reply.body)
      if (reply.kind !== LinkKind.welcome || !welcome.success) {
        throw new LinkRefusedError('handshake', `the parent answered hello with an unreadable ${reply.kind}`)
      }
      const houseHub = membership?.holds(welcome.data.house, 'hub', parentId, self) === true
      if (options.hub === true && !houseHub) {
        // not a refusal by our hub: a node that is not it (a forged mDNS answer, another house's key)
        throw new Error(`${welcome.data.name} (${parentId}) does not prove it holds this house's key: not this house's hub`)
      }
      this.establish(session, 'parent', welcome.data.capabilities, () => 1, this.wireOf(connection))
      const limits = welcome.data.limits ?? {}
      session.pace(limits.framesPerSecond)
      const parent: ParentLinkSession = { peerId: session.remotePeer, remoteAddr: connection.remoteAddr.toString(), welcome: welcome.data, houseHub, limits, session }
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
      if (err instanceof RemoteError && !(err instanceof LinkRefusedError)) throw new LinkRefusedError(err.code, err.message, err.retryAfterMs)
      throw err
    }
  }

  async provesHouse (addrs: Multiaddr[], signal: AbortSignal): Promise<boolean> {
    const { membership } = this.init
    if (membership === undefined) return false
    const self = this.components.peerId.toString()
    try {
      const connection = await this.components.connectionManager.openConnection(addrs, { signal })
      const session = this.createSession(await connection.newStream(LINK_PROTOCOL, { signal }), connection)
      const hubId = connection.remotePeer.toString()
      try {
        const hello: Hello = { ...this.self(), house: membership.prove('room', self, hubId) }
        const reply = await session.request(LinkKind.hello, hello, { timeoutMs: this.init.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS, signal })
        const welcome = parseUntrusted(WelcomeSchema, reply.body)
        return welcome.success && membership.holds(welcome.data.house, 'hub', hubId, self)
      } finally {
        await session.close('only checking that you hold the house key')
      }
    } catch {
      return false
    }
  }

  /** What this node says of itself in `hello` and `welcome`: the capabilities it serves now, and that its idle links stay quiet. */
  private self (): Self {
    const words = new Set([...this.capabilities.values()].map(capability => capability.capability))
    return { ...this.init.self, capabilities: [...words, QUIET_LINKS] }
  }

  /** The handshake is done: from now on every envelope passes the guard, bad frames count, and the heartbeat runs. */
  private establish (session: LinkSession, role: LinkRole, remoteCapabilities: readonly string[], weight: () => number, wire: Wire | undefined): void {
    session.remoteCapabilities = remoteCapabilities
    const { guard, breach } = this.init
    const peerId = session.remotePeer
    if (guard !== undefined) {
      session.guard = envelope => guard({
        peerId,
        role,
        weight: weight(),
        kind: envelope.kind,
        need: envelope.re === undefined ? this.capabilities.get(envelope.kind)?.needs(envelope) : undefined
      })
    }
    session.breach = (code, reason) => breach?.(peerId, code, reason) ?? { ok: false, code, message: reason }
    // the remote is our parent: this end is the child's
    this.heartbeats.add(session, role === 'parent' ? 'child' : 'parent', wire)
  }

  private handleInbound (stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer
    const peerId = peer.toString()
    const handshakeMs = this.init.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS
    if (this.door.barred(peerId, connection)) {
      stream.abort(new Error('another link right after a failed handshake'))
      return
    }
    const session = this.createSession(stream, connection, async (envelope, session) => this.handshake(envelope, session, peer, connection))
    const timer = setTimeout(() => {
      if (this.welcomed.has(session)) return
      this.repeats.note(`hello-timeout:${peerId}`, 'warn', { peer: peerId }, 'closing link: no hello in time')
      void session.sendError('handshake', 'no hello in time', undefined, { always: true })
        .then(async () => session.close('no hello in time', { bye: false }))
        .then(() => { this.door.hangUp(connection, 'no hello in time') })
    }, handshakeMs)
    void session.closed.then(() => {
      clearTimeout(timer)
      if (!this.greeted.has(session)) this.door.failedHandshake(peerId)
    })
  }

  /** Does the peer of this connection hold a link on it (as our parent, or as a welcomed child)? */
  private hasLinkOn (connection: Connection): boolean {
    const peerId = connection.remotePeer.toString()
    return this.parentLink?.peerId === peerId || this.childLinks.get(peerId)?.session !== undefined
  }

  private async handshake (envelope: Envelope, session: LinkSession, peer: PeerId, connection: Connection): Promise<void> {
    if (this.childLinks.get(session.remotePeer)?.session === session) {
      await this.dispatch(envelope, session)
      return
    }
    if (envelope.kind !== LinkKind.hello) {
      session.refuse(undefined, 'handshake', `expected hello, got ${envelope.kind}`, envelope.id)
      return
    }
    const hello = parseUntrusted(HelloSchema, envelope.body)
    if (!hello.success) {
      const reason = `hello field '${hello.error.issues[0]?.path.join('.')}': ${hello.error.issues[0]?.message}`
      this.repeats.note(`bad-hello:${session.remotePeer}`, 'warn', { peer: session.remotePeer, reason }, 'closing link: unreadable hello')
      await session.sendError('invalid', reason, envelope.id, { always: true })
      await session.close('unreadable hello', { bye: false })
      this.door.hangUp(connection, 'unreadable hello')
      return
    }
    this.greeted.add(session)
    const { membership } = this.init
    const self = this.components.peerId.toString()
    const houseMember = membership === undefined || hello.data.house === undefined ? undefined : membership.holds(hello.data.house, 'room', session.remotePeer, self)
    const admission: Admission = await (this.init.admit?.(peer, hello.data, { remoteAddr: connection.remoteAddr.toString(), houseMember }) ?? { ok: true })
    // the peer may have gone while its admission was being decided
    if (!session.isOpen) return
    if (!admission.ok) {
      // the admission said why, in its own log line
      this.counters.refusedChildren++
      await session.sendError(admission.code, admission.message, envelope.id, { always: true, retryAfterMs: admission.retryAfterMs })
      await session.close(admission.message, { bye: false })
      this.door.hangUp(connection, admission.message)
      return
    }

    const previous = this.childLinks.get(session.remotePeer)
    const subtree = Math.min(hello.data.subtree ?? 1, MAX_SUBTREE)
    const child: ChildLink = {
      peerId: session.remotePeer,
      name: admission.name ?? hello.data.name,
      hello: hello.data,
      remoteAddr: connection.remoteAddr.toString(),
      since: Date.now(),
      subtree,
      limits: this.limitsFor(session.remotePeer, subtree),
      session
    }
    this.welcomed.add(session)
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
    const welcome: Welcome = { ...this.self(), limits: child.limits, ...(houseMember === true ? { house: membership?.prove('hub', self, child.peerId) } : {}) }
    await session.reply(envelope, LinkKind.welcome, welcome).catch(() => {})
    this.establish(session, 'child', hello.data.capabilities, () => child.subtree, this.wireOf(connection))
    this.log.info({ peer: child.peerId, addr: child.remoteAddr }, `child ${child.name} linked`)
    this.changed()
  }

  /** The link's TCP connection, for the heartbeat's look at its send queue; said once if the transport hides it. */
  private wireOf (connection: Connection): Wire | undefined {
    const wire = wireOf(connection)
    if (wire === undefined && !this.saidSocketHidden && hidesItsSocket(connection)) {
      this.saidSocketHidden = true
      this.log.warn({ addr: connection.remoteAddr.toString() }, 'the TCP transport does not show the socket under a link (a newer @libp2p/tcp?): links are judged by their own frames alone, and bytes stuck in flight (a file to a peer that vanished) go unseen until TCP gives up; check wireOf in src/routing/link/send-queues.ts against this version')
    }
    return wire
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
      repeats: this.repeats,
      onEnvelope: onEnvelope ?? (async (envelope, session) => this.dispatch(envelope, session))
    })
  }

  private async dispatch (envelope: Envelope, session: LinkSession): Promise<void> {
    switch (envelope.kind) {
      case LinkKind.error: {
        const body = parseUntrusted(ErrorBodySchema, envelope.body)
        this.repeats.note(`error:${session.remotePeer}:${body.data?.code ?? '?'}`, 'warn', { peer: session.remotePeer, code: body.data?.code, reason: body.data?.message }, 'the other side reported an error')
        return
      }
      case LinkKind.subtreeSize:
        this.takeSubtree(envelope, session)
        return
      case LinkKind.limits:
        this.takeLimits(envelope, session)
        return
    }
    if (envelope.re !== undefined) {
      this.counters.unknownReplies++
      this.repeats.note(`late-reply:${session.remotePeer}`, 'warn', { peer: session.remotePeer, kind: envelope.kind, re: envelope.re }, 'dropped a reply to no request waiting here (late or unknown)')
      return
    }
    const capability = this.capabilities.get(envelope.kind)
    if (capability === undefined) {
      this.counters.unknownKinds++
      session.violation('unknown-kind', `this node does not serve '${envelope.kind}' envelopes`, envelope.id)
      return
    }
    await capability.handle(envelope, session)
  }

  private limitsFor (peerId: string, subtree: number): LinkLimits {
    return limitsFor(subtree, this.init.framesPerSecond?.(peerId, 'child'), this.capabilities.values())
  }

  restateLimits (peerId: string): void {
    const child = this.childLinks.get(peerId)
    if (child === undefined) return
    child.limits = this.limitsFor(child.peerId, child.subtree)
    child.session.send(LinkKind.limits, child.limits).catch(() => {})
  }

  /** A child's subtree grew or shrank: its limits follow, and it is told them. */
  private takeSubtree (envelope: Envelope, session: LinkSession): void {
    const child = this.childLinks.get(session.remotePeer)
    const report = parseUntrusted(SubtreeSchema, envelope.body)
    if (child?.session !== session || !report.success) {
      session.violation(report.success ? 'forbidden' : 'invalid', report.success ? 'only a child reports its subtree size' : 'unreadable subtree size', envelope.id)
      return
    }
    child.subtree = Math.min(report.data.size, MAX_SUBTREE)
    this.restateLimits(child.peerId)
    this.subtree.schedule()
  }

  /** The parent changed the limits it holds this node to: keep within them from now on. */
  private takeLimits (envelope: Envelope, session: LinkSession): void {
    const parent = this.parentLink
    const limits = parseUntrusted(LinkLimitsSchema, envelope.body)
    if (parent?.session !== session || !limits.success) {
      session.violation(limits.success ? 'forbidden' : 'invalid', limits.success ? 'only a parent states limits' : 'unreadable limits', envelope.id)
      return
    }
    parent.limits = limits.data
    session.pace(limits.data.framesPerSecond)
  }
}
