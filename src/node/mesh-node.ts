import { parseUntrusted } from '../common/index.ts'
import { readFile } from 'node:fs/promises'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { mplex } from '@libp2p/mplex'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import pkg from '../../package.json' with { type: 'json' }
import { AccessControl, TrustStore, ipMatcher, ipOf, type AccessCounters, type CutOff, type InviteToken } from '../access/index.ts'
import { BusBridge, type BusMessage, type BusStatus, type Unhandled } from '../bus-bridge/index.ts'
import { UserError, errorMessage, type Logger } from '../common/index.ts'
import { AskRouter, link, type AskCounters, type LinkRefusedError, type LinkService, type LinkSession, type ParentLinkSession } from '../routing/index.ts'
import { saveParent } from './config.ts'
import { startControlServer } from './control.ts'
import { ensureHome, homePaths, type HomePaths } from './home.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { batchYamuxWindowUpdates, linearGetConnections } from './libp2p-fixes.ts'
import { managementRoutes } from './management.ts'
import { BusEnvelopeSchema, MeshKind } from './mesh-kinds.ts'
import { ParentLink, type ParentStatus } from './parent-link.ts'
import type { NodeConfig } from './config.ts'
import type { PrivateKey } from '@libp2p/interface'
import type { Server } from 'node:http'

export const VERSION: string = pkg.version

export interface ChildStatus {
  peerId: string
  name: string
  addr: string
  since: string
  rttMs: number | null
}

export interface NodeStatus {
  peerId: string
  name: string
  version: string
  home: string
  addrs: string[]
  startedAt: string
  parent: ParentStatus
  children: ChildStatus[]
  bus: BusStatus
  asks: AskCounters
  access: AccessCounters & { open: boolean, houseKey: boolean, cutOff: CutOff[] }
  link: LinkService['counters']
  process: { pid: number, rssBytes: number, heapUsedBytes: number }
}

export interface MeshNodeInit {
  home: string
  config: NodeConfig
  log: Logger
  /** join a parent with this invite; once welcomed, the parent is saved in the home's config */
  join?: InviteToken
  /** the node cannot go on (its invite was refused): the owner should stop it and tell the user */
  onFatal?: (err: UserError) => void
}

type Services = { link: LinkService, ping: ReturnType<ReturnType<typeof ping>>, identify: ReturnType<ReturnType<typeof identify>> }

const NO_BUS: BusStatus = { mode: 'none', url: null, state: 'disabled', counters: null, clients: null, delivered: 0 }
const NO_PARENT: ParentStatus = { state: 'none', addr: null, peerId: null, name: null, since: null, rttMs: null, attempts: 0, lastError: null }

/**
 * One peer of the mesh: its libp2p node, identity and home, the link to its parent (kept alive by a
 * reconnect loop) and the links of its children, and the local control endpoint that `status` asks.
 */
export class MeshNode {
  readonly config: NodeConfig
  readonly paths: HomePaths
  private readonly init: MeshNodeInit
  private readonly log: Logger
  private libp2p?: Libp2p<Services>
  private parentLink?: ParentLink
  private asks?: AskRouter
  private access?: AccessControl
  private bridge?: BusBridge
  private control?: Server
  private startedAt = new Date()

  constructor (init: MeshNodeInit) {
    this.init = init
    this.config = init.config
    this.paths = homePaths(init.home)
    this.log = init.log
  }

  get peerId (): string {
    return this.requireStarted().peerId.toString()
  }

  get addrs (): string[] {
    return this.requireStarted().getMultiaddrs().map(addr => addr.toString())
  }

  get link (): LinkService {
    return this.requireStarted().services.link
  }

  get libp2pNode (): Libp2p<Services> {
    return this.requireStarted()
  }

  get accessControl (): AccessControl {
    if (this.access === undefined) throw new Error('the node is not started')
    return this.access
  }

  /** The parent's link while it is up. */
  get parent (): ParentLinkSession | undefined {
    return this.parentLink?.session
  }

  async start (): Promise<void> {
    await ensureHome(this.paths)
    const identity = await loadOrCreateIdentity(this.paths.identity, this.log)
    if (identity.created) this.log.info({ peerId: identity.peerId.toString(), home: this.paths.dir }, 'created a new identity')

    // claim the home first: a second node on the same home must not even bind its ports
    this.control = await startControlServer(this.paths.controlSocket, this.paths.dir, {
      'GET /status': () => this.status(),
      ...managementRoutes(this)
    })
    try {
      const store = await TrustStore.open(this.paths.trust)
      this.access = new AccessControl({ store, log: this.log, open: this.config.open, ipAllow: this.config.ipAllow, ipDeny: this.config.ipDeny })
      const houseKey = this.config.houseKey === null ? undefined : await readHouseKey(this.config.houseKey)
      this.libp2p = await this.createLibp2p(identity.privateKey, this.access, houseKey).catch((err: unknown) => { throw listenError(err, this.config.listen) })
    } catch (err) {
      await this.closeControl()
      throw err
    }
    this.startedAt = new Date()
    this.log.info({ peerId: this.peerId, addrs: this.addrs }, `node ${this.config.name} listening`)
    this.asks = new AskRouter({
      link: this.link,
      self: { peerId: this.peerId, name: this.config.name },
      parent: () => this.parentSession(),
      answerLocally: async (question, asker, signal) => this.bridge?.answerForChild(question.utterances, question.lang, asker, signal),
      log: this.log,
      maxInFlightPerChild: this.config.maxAsksInFlightPerChild
    })
    this.link.handleKind(MeshKind.bus, (envelope, session) => { this.receiveFromParent(envelope.body, session) })
    if (this.config.bus !== 'none') await this.startBridge()

    this.startParentLink()
  }

  private startParentLink (): void {
    const { join } = this.init
    const addrs = join !== undefined
      ? join.addrs.map(addr => `${addr.replace(/\/p2p\/.*$/, '')}/p2p/${join.peerId}`)
      : this.config.parent === null ? [] : [this.config.parent]
    if (addrs.length === 0) return
    if (join === undefined && !addrs.some(addr => addr.includes('/p2p/'))) {
      this.log.warn({ parent: this.config.parent }, 'the parent address names no peer id, so any node at that address is taken as the parent; add /p2p/<peer id> to pin it')
    }
    let joining = join !== undefined
    this.parentLink = new ParentLink({
      link: this.link,
      addrs: addrs.map(addr => multiaddr(addr)),
      invite: join?.secret,
      backoff: this.config.reconnect,
      log: this.log,
      onLinked: session => {
        void this.rememberParent(session, joining)
        joining = false
      },
      onRefused: (err: LinkRefusedError) => {
        if (joining) this.init.onFatal?.(new UserError(`parent ${join?.peerId ?? ''} refused this node: ${err.message}`))
      }
    })
    this.parentLink.start()
  }

  private async rememberParent (session: ParentLinkSession, joined: boolean): Promise<void> {
    try {
      await this.accessControl.store.remember(session.peerId, session.welcome.name, 'parent')
      if (!joined) return
      const addr = session.remoteAddr.includes('/p2p/') ? session.remoteAddr : `${session.remoteAddr}/p2p/${session.peerId}`
      await saveParent(this.paths.config, addr)
      this.log.info({ parent: addr, config: this.paths.config }, `joined ${session.welcome.name}; saved it as this node's parent, so a plain start re-links`)
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'could not record the parent')
    }
  }

  /** Says goodbye to parent and children, then stops. */
  async stop (): Promise<void> {
    await this.bridge?.stop()
    await this.parentLink?.stop()
    await this.libp2p?.stop()
    await this.closeControl()
    this.log.info('node stopped')
  }

  /** Closes every connection from an address inside `cidr`; resolves with how many there were. */
  async hangUpAddresses (cidr: string): Promise<number> {
    const inside = ipMatcher([cidr])
    const matching = this.requireStarted().getConnections().filter(connection => {
      const ip = ipOf(connection.remoteAddr.toString())
      return ip !== undefined && inside(ip)
    })
    await Promise.all(matching.map(async connection => connection.close().catch(() => { connection.abort(new Error('address blocked')) })))
    return matching.length
  }

  status (): NodeStatus {
    const node = this.requireStarted()
    return {
      peerId: node.peerId.toString(),
      name: this.config.name,
      version: VERSION,
      home: this.paths.dir,
      addrs: this.addrs,
      startedAt: this.startedAt.toISOString(),
      parent: this.parentLink?.status() ?? NO_PARENT,
      children: [...node.services.link.children.values()].map(child => ({
        peerId: child.peerId,
        name: child.name,
        addr: child.remoteAddr,
        since: new Date(child.since).toISOString(),
        rttMs: child.session.rttMs ?? null
      })),
      bus: this.bridge?.status() ?? NO_BUS,
      asks: { ...this.requireAsks().counters },
      access: { ...this.accessControl.counters, open: this.config.open, houseKey: this.config.houseKey !== null, cutOff: this.accessControl.cutOffPeers() },
      link: { ...node.services.link.counters },
      process: { pid: process.pid, rssBytes: process.memoryUsage.rss(), heapUsedBytes: process.memoryUsage().heapUsed }
    }
  }

  private parentSession (): LinkSession | undefined {
    return this.parentLink?.session?.session
  }

  private async startBridge (): Promise<void> {
    const { config } = this
    try {
      this.bridge = await BusBridge.start({
        spec: config.bus,
        log: this.log,
        detector: {
          skillId: config.skillId,
          fallback: config.fallback,
          fallbackPriority: config.fallbackPriority,
          classic: config.classicSignals,
          safetyNetMs: config.safetyNetMs
        },
        catchAllFallbacks: config.catchAllFallbacks,
        deliveredTypes: config.deliveredTypes,
        canAsk: () => this.parentSession() !== undefined,
        onUnhandled: unhandled => { void this.askMesh(unhandled) },
        childNamed: nameOrPeerId => this.link.child(nameOrPeerId),
        deliver: (child, message) => { this.deliverToChild(child.peerId, message) }
      })
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  /** The local assistant could not answer: ask up the tree, then speak the answer or give the utterance back. */
  private async askMesh (unhandled: Unhandled): Promise<void> {
    const utterance = unhandled.utterances[0] ?? ''
    this.log.info({ signal: unhandled.signal }, `asking the mesh: "${utterance}"`)
    const answer = await this.requireAsks().ask(unhandled.utterances, unhandled.lang, this.config.askTimeoutMs)
    if (answer.status === 'answered') {
      const by = answer.answeredBy?.name ?? 'the mesh'
      this.log.info({ by }, `${by} answered "${utterance}": "${answer.speaks.map(speak => speak.utterance).join(' ')}"`)
      unhandled.answer(answer.speaks, by)
    } else {
      this.log.info({ status: answer.status, reason: answer.reason }, `the mesh has no answer to "${utterance}" (${answer.reason ?? answer.status}); the local assistant answers`)
      unhandled.giveBack()
    }
  }

  private deliverToChild (peerId: string, message: BusMessage): void {
    const child = this.link.children.get(peerId)
    child?.session.send(MeshKind.bus, { message }).catch((err: unknown) => {
      this.log.warn({ child: child.name, err: errorMessage(err) }, 'could not pass a message to a child')
    })
  }

  /** A message a parent's skill addressed to this node. */
  private receiveFromParent (body: unknown, session: LinkSession): void {
    const parent = this.parentLink?.session
    if (parent?.session !== session) {
      this.log.warn({ peer: session.remotePeer }, 'dropped a bus message from a peer that is not this node\'s parent')
      void session.sendError('refused', 'only a parent may send bus messages to this node')
      return
    }
    const parsed = parseUntrusted(BusEnvelopeSchema, body)
    if (!parsed.success) {
      void session.sendError('invalid', `bus field '${parsed.error.issues[0]?.path.join('.')}': ${parsed.error.issues[0]?.message}`)
      return
    }
    if (this.bridge === undefined) {
      this.log.warn({ type: parsed.data.message.type }, 'the parent sent a bus message but this node has no bus')
      return
    }
    this.log.debug({ type: parsed.data.message.type }, `${parent.welcome.name} sent a ${parsed.data.message.type} for this node's bus`)
    this.bridge.emitFromParent(parsed.data.message, parent.welcome.name)
  }

  private requireAsks (): AskRouter {
    if (this.asks === undefined) throw new Error('the node is not started')
    return this.asks
  }

  private async createLibp2p (privateKey: PrivateKey, access: AccessControl, houseKey?: Uint8Array): Promise<Libp2p<Services>> {
    batchYamuxWindowUpdates()
    const muxers = { yamux: yamux(), mplex: mplex() }
    const isParent = (session: LinkSession): boolean => this.parentSession() === session
    const node = await createLibp2p({
      privateKey,
      addresses: { listen: this.config.listen },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: this.config.muxers.map(name => muxers[name]),
      connectionProtector: houseKey === undefined ? undefined : preSharedKey({ psk: houseKey }),
      connectionGater: { denyInboundConnection: maConn => access.denyInboundConnection(maConn) },
      // the link's own heartbeat finds dead links; libp2p's monitor would also open a stream on every connection
      // every 10 s and abort any whose ping waits over 5 s, which is every child of a hub under load
      connectionMonitor: { enabled: false },
      connectionManager: {
        maxConnections: this.config.maxConnections,
        maxIncomingPendingConnections: 256,
        inboundConnectionThreshold: this.config.maxInboundPerIpPerSecond
      },
      services: {
        // answers peers that ask; asking every peer that connects cost a hub a fifth of its memory per child
        identify: identify({ runOnConnectionOpen: false }),
        ping: ping(),
        link: link({
          self: { name: this.config.name, version: VERSION, capabilities: [] },
          log: this.log,
          heartbeatMs: this.config.heartbeatMs,
          missedBeats: this.config.missedBeats,
          admit: async (peer, hello) => access.admit(peer, hello),
          guard: (envelope, session) => access.guard(envelope, session, isParent(session) ? 'parent' : 'child')
        })
      }
    })
    linearGetConnections(node)
    return node
  }

  private async closeControl (): Promise<void> {
    const control = this.control
    this.control = undefined
    if (control === undefined) return
    await new Promise<void>(resolve => {
      control.close(() => { resolve() })
      control.closeAllConnections()
    })
  }

  private requireStarted (): Libp2p<Services> {
    if (this.libp2p === undefined) throw new Error('the node is not started')
    return this.libp2p
  }
}

async function readHouseKey (path: string): Promise<Uint8Array> {
  try {
    return await readFile(path)
  } catch (err) {
    throw new UserError(`cannot read the house key ${path}: ${errorMessage(err)}; make one with \`mycroft-mesh house-key > house.key\` and copy it to every node of the house`)
  }
}

function listenError (err: unknown, listen: string[]): Error {
  const message = errorMessage(err)
  if (/EADDRINUSE|address already in use/i.test(message)) {
    return new UserError(`cannot listen on ${listen.join(', ')}: the port is taken by another program; pick another with --listen /ip4/0.0.0.0/tcp/PORT`)
  }
  if (/EADDRNOTAVAIL|EACCES/i.test(message)) {
    return new UserError(`cannot listen on ${listen.join(', ')}: ${message}; check the address belongs to this machine, or use a port above 1024`)
  }
  return err instanceof Error ? err : new Error(message)
}
