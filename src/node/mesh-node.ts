import { join } from 'node:path'
import { identify, type Identify } from '@libp2p/identify'
import { multiaddr } from '@multiformats/multiaddr'
import { ping, type Ping } from '@libp2p/ping'
import { AccessControl, FILES_PERMISSION, Friends, PUSH_SKILLS_PERMISSION, TrustStore, type InviteToken } from '../access/index.ts'
import { createBusBridge, type BusBridge } from '../bus-bridge/index.ts'
import { UserError, VERSION, errorMessage, type Logger } from '../common/index.ts'
import { ensureHome, homePaths, startControlServer, type ControlRoutes, type HomePaths } from '../control/index.ts'
import { carryFiles, fileTransfer, type FileTransfer, type TransferEvent } from '../files/index.ts'
import { houseDiscovery, HouseKey, type HouseDiscovery } from '../house/index.ts'
import { FigureRegistry, startMetricsServer, type MetricsServer } from '../observe/index.ts'
import { skillsExchange, type SkillsExchange } from '../skills-exchange/index.ts'
import { askFlow, broadcast, busDelivery, directory, link, relay, type AskFlow, type Broadcast, type BusDelivery, type Directory, type Link, type RoomRelay } from '../routing/index.ts'
import { hostAndPort, type NodeConfig } from './config.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { createMeshLibp2p } from './libp2p-stack.ts'
import { fileRoutes } from './file-routes.ts'
import { friendRoutes } from './friend-routes.ts'
import { skillRoutes } from './skill-routes.ts'
import { houseRoutes } from './house-routes.ts'
import { managementRoutes } from './management.ts'
import { NO_PARENT, ParentLink } from './parent-link.ts'
import { childStatus, processStatus, type NodeStatus } from './status.ts'
import { buildTree, type MeshTree } from './tree.ts'
import { DEFAULT_DASHBOARD, LivePage } from './live-page.ts'
import { collectAfterBursts } from './after-bursts.ts'
import type { Libp2p, Libp2pOptions } from 'libp2p'
import type { Registry } from 'prom-client'
import type { Server } from 'node:http'

export interface MeshNodeInit {
  home: string
  config: NodeConfig
  log: Logger
  /** join a parent with this invite; once welcomed, the parent is saved in the home's config */
  join?: InviteToken
  /** the node cannot go on (its invite was refused): the owner should stop it and tell the user */
  onFatal?: (err: UserError) => void
}

type Services = { identify: Identify, ping: Ping, link: Link, ask: AskFlow, bus: BusDelivery, directory: Directory, relay: RoomRelay, broadcast: Broadcast, files: FileTransfer, skills: SkillsExchange, house?: HouseDiscovery }

/**
 * One peer of the mesh. It only wires: the libp2p node with its capabilities as services, the bus bridge,
 * access control, the link to its parent (kept alive by a reconnect loop) and the local control endpoint.
 * Each part gets the others as typed ports; what a part does lives in its own folder.
 */
export class MeshNode {
  readonly config: NodeConfig
  readonly paths: HomePaths
  private readonly init: MeshNodeInit
  private readonly log: Logger
  private readonly figures = new FigureRegistry()
  private libp2p?: Libp2p<Services>
  private store?: TrustStore
  private metricsRegistry?: Registry
  private metricsServer?: MetricsServer
  private bridge?: BusBridge
  private parentLink?: ParentLink
  private stopCollecting?: () => void
  private control?: Server
  private readonly livePage: LivePage
  private startedAt = new Date()

  constructor (init: MeshNodeInit) {
    this.init = init
    this.config = init.config
    this.paths = homePaths(init.home)
    this.log = init.log
    this.livePage = new LivePage({ tokenPath: join(this.paths.dir, 'dashboard.token'), tree: () => this.tree(), transfers: () => this.started().services.files.transfers() })
  }

  get peerId (): string {
    return this.started().peerId.toString()
  }

  get addrs (): string[] {
    return this.started().getMultiaddrs().map(addr => addr.toString())
  }

  async start (): Promise<void> {
    const { config, log } = this
    await ensureHome(this.paths)
    const identity = await loadOrCreateIdentity(this.paths.identity, log)
    if (identity.created) log.info({ peerId: identity.peerId.toString(), home: this.paths.dir }, 'created a new identity')

    // claim the home first: a second node on the same home must not even bind its ports
    const routes: ControlRoutes = {
      'GET /status': () => this.status(),
      'GET /tree': () => this.tree(),
      'POST /dashboard': async () => ({ url: await this.livePage.start(config.dashboard ?? DEFAULT_DASHBOARD) })
    }
    this.control = await startControlServer(this.paths.controlSocket, this.paths.dir, routes)
    let node: Libp2p<Services>
    let store: TrustStore
    let friends: Friends
    try {
      store = await TrustStore.open(this.paths.trust)
      const houseKey = config.houseKey === null ? undefined : await HouseKey.read(config.houseKey)
      friends = new Friends({ store, housemates: config.housematesAreFriends, onFriend: peerId => { this.libp2p?.services.relay.consented(peerId) } })
      const access = new AccessControl({ store, log, figures: this.figures, open: config.open, ipAllow: config.ipAllow, ipDeny: config.ipDeny, houseKey: houseKey !== undefined, hub: config.hub, maxConnections: config.maxConnections, servedTypes: config.servedTypes, deliveredTypes: config.deliveredTypes, onRefusal: refusal => { this.livePage.refused(refusal) } })
      const bridge = createBusBridge({
        spec: config.bus,
        self: { peerId: identity.peerId.toString(), name: config.name },
        log,
        figures: this.figures,
        detector: { skillId: config.skillId, fallback: config.fallback, fallbackPriority: config.fallbackPriority, classic: config.classicSignals, safetyNetMs: config.safetyNetMs },
        catchAllFallbacks: config.catchAllFallbacks,
        deliveredTypes: config.deliveredTypes,
        forwardTypes: config.forwardTypes,
        askTimeoutMs: config.askTimeoutMs
      })
      this.bridge = bridge
      const metrics = config.metrics === null ? undefined : await metricsRegistry()
      this.metricsRegistry = metrics?.registry
      node = await createMeshLibp2p<Services>({
        log,
        heartbeatMs: config.heartbeatMs,
        metrics: metrics?.libp2p,
        privateKey: identity.privateKey,
        listen: config.listen,
        muxers: config.muxers,
        connectionGater: {
          denyInboundConnection: maConn => access.denyInboundConnection(maConn),
          denyInboundEncryptedConnection: (peer, maConn) => access.denyInboundEncryptedConnection(peer, maConn)
        },
        maxConnections: config.maxConnections,
        maxInboundPerIpPerSecond: config.maxInboundPerIpPerSecond,
        services: {
          // answers peers that ask; asking every peer that connects cost a hub a fifth of its memory per child
          identify: identify({ runOnConnectionOpen: false }),
          ping: ping(),
          link: link({
            self: { name: config.name, version: VERSION },
            log,
            figures: this.figures,
            heartbeatMs: config.heartbeatMs,
            missedBeats: config.missedBeats,
            admit: async (peer, hello, seen) => access.admit(peer, hello, seen),
            membership: houseKey,
            guard: request => access.guard(request),
            breach: (peer, code, reason) => access.breach(peer, code, reason),
            framesPerSecond: (peer, role) => access.framesPerSecond(peer, role)
          }),
          ask: askFlow({ name: config.name, log, figures: this.figures, assistant: bridge, maxInFlightPerChild: config.maxAsksInFlightPerChild, onAsked: record => {
            this.livePage.asked(record)
            this.metricsServer?.observeAsk(record.hop, record.status, record.ms / 1000)
          } }),
          bus: busDelivery({ log, figures: this.figures, bus: bridge }),
          directory: directory({ name: config.name, top: config.hub, log, figures: this.figures, known: () => knownChildren(store) }),
          relay: relay({
            name: config.name,
            top: config.hub,
            log,
            figures: this.figures,
            bus: bridge,
            assistant: bridge,
            mail: { path: this.paths.mail, limits: config.mail },
            consent: friends,
            membership: houseKey
          }),
          broadcast: broadcast({ name: config.name, top: config.hub, log, figures: this.figures, bus: bridge }),
          files: fileTransfer({
            dir: this.paths.files,
            log,
            figures: this.figures,
            limits: config.files,
            allowed: peerId => this.mayReceiveFiles(peerId, access),
            nameOf: peerId => this.nameOf(peerId),
            onEvent: event => {
              bridge.notify(`mesh.file.${event.type}`, fileNotice(event))
              this.livePage.transferred(event.transfer)
            }
          }),
          skills: skillsExchange({
            name: config.name,
            dir: join(this.paths.dir, 'skills'),
            repoDir: join(this.paths.dir, 'skills-repo'),
            log,
            figures: this.figures,
            bus: bridge,
            pip: bridge,
            mayPull: parentPeerId => access.authorize(parentPeerId, 'parent', { permission: PUSH_SKILLS_PERMISSION }).ok
          }),
          ...(houseKey === undefined || !config.mdns ? {} : { house: houseDiscovery({
            houseKey: houseKey.bytes,
            hub: config.hub,
            log,
            figures: this.figures,
            proves: async hub => this.started().services.link.provesHouse(hub.addrs.map(addr => multiaddr(`${addr.toString().replace(/\/p2p\/.*$/, '')}/p2p/${hub.peerId}`)), AbortSignal.timeout(5_000))
          }) })
        }
      })
      this.libp2p = node
      this.store = store
      Object.assign(routes, managementRoutes({
        peerId: this.peerId,
        store,
        access,
        link: node.services.link,
        addrs: () => this.addrs,
        connections: () => node.getConnections(),
        skillsRoot: async () => node.services.skills.rootHash()
      }), houseRoutes(node.services), friendRoutes(friends), fileRoutes(node.services.files, node.services.bus), skillRoutes(node.services.skills))
      const skillsRoot = this.init.join?.skillsRoot
      if (skillsRoot !== undefined) await node.services.skills.pin(skillsRoot)
    } catch (err) {
      await this.closeControl()
      throw err
    }
    this.startedAt = new Date()
    log.info({ peerId: this.peerId, addrs: this.addrs }, `node ${config.name} listening`)
    if (config.metrics !== null && this.metricsRegistry !== undefined) {
      try {
        this.metricsServer = await startMetricsServer(this.figures, this.metricsRegistry, hostAndPort(config.metrics))
      } catch (err) {
        await this.stop()
        throw new UserError(`cannot serve metrics at ${config.metrics}: ${errorMessage(err)}; pick another address with --metrics HOST:PORT`)
      }
      log.info({ url: this.metricsServer.url }, `metrics at ${this.metricsServer.url}`)
    }
    if (config.dashboard !== null) {
      try {
        log.info(`live page at ${await this.livePage.start(config.dashboard)}`)
      } catch (err) {
        await this.stop()
        throw err
      }
    }
    try {
      const files = {
        carry: async (message: { type: string, data: Record<string, unknown> }, to: { peerId: string }) => carryFiles(message.data, {
          shareDirs: config.shareDirs,
          returning: path => node.services.files.originOf(path, to.peerId),
          send: async path => (await node.services.files.send(to.peerId, path, { purpose: message.type }).done).path
        })
      }
      await this.bridge.start({ asks: node.services.ask, delivery: node.services.bus, relay: node.services.relay, broadcast: node.services.broadcast, directory: node.services.directory, friends, files })
    } catch (err) {
      await this.stop()
      throw err
    }
    this.parentLink = new ParentLink({
      link: node.services.link,
      join: this.init.join,
      parent: config.parent,
      backoff: config.reconnect,
      log,
      store,
      configPath: this.paths.config,
      self: { name: config.name, listen: config.listen, bus: config.bus },
      onFatal: this.init.onFatal
    })
    this.parentLink.start({ looksForHub: node.services.house !== undefined && !config.hub })
    this.stopCollecting = collectAfterBursts(listener => node.services.link.onChange(listener))
    const parentLink = this.parentLink
    node.services.house?.onHub(hub => { parentLink.offer(hub) })
  }

  /** Says goodbye to parent and children, then stops. */
  async stop (): Promise<void> {
    this.stopCollecting?.()
    await this.bridge?.stop()
    await this.parentLink?.stop()
    await this.metricsServer?.close()
    await this.livePage.stop()
    await this.libp2p?.stop()
    await this.store?.close()
    await this.closeControl()
    this.log.info('node stopped')
  }

  status (): NodeStatus {
    const node = this.started()
    const { link } = node.services
    return {
      peerId: this.peerId,
      name: this.config.name,
      version: VERSION,
      home: this.paths.dir,
      addrs: this.addrs,
      startedAt: this.startedAt.toISOString(),
      parent: this.parentLink?.status() ?? NO_PARENT,
      children: [...link.children.values()].map(childStatus),
      process: processStatus(),
      ...this.figures.snapshot()
    }
  }

  /** Files come only from linked nodes allowed `files` (parents, children and rooms are, by default). */
  private mayReceiveFiles (peerId: string, access: AccessControl): { ok: true } | { ok: false, code: 'forbidden' | 'not-linked', reason: string } {
    const link = this.started().services.link
    const role = link.parent?.peerId === peerId ? 'parent' : link.children.has(peerId) ? 'child' : undefined
    if (role === undefined) return { ok: false, code: 'not-linked', reason: 'this node takes files only from the nodes linked to it' }
    const verdict = access.authorize(peerId, role, { permission: FILES_PERMISSION })
    return verdict.ok ? verdict : { ok: false, code: 'forbidden', reason: verdict.message }
  }

  private nameOf (peerId: string): string {
    const link = this.started().services.link
    if (link.parent?.peerId === peerId) return link.parent.welcome.name
    return link.children.get(peerId)?.name ?? this.store?.peer(peerId)?.name ?? peerId.slice(-8)
  }

  tree (): MeshTree {
    const status = this.status()
    return buildTree({ name: status.name, peerId: status.peerId }, status.parent, status.children, this.started().services.directory.below())
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

  private started (): Libp2p<Services> {
    if (this.libp2p === undefined) throw new Error('the node is not started')
    return this.libp2p
  }
}

/** The children this node has admitted and not revoked: the rooms it lists as offline while they are away. */
function knownChildren (store: TrustStore): Array<{ peerId: string, name: string }> {
  return store.peers().filter(peer => peer.revokedAt === null && (peer.role === 'child' || peer.role === 'room'))
}

/** A registry of this node's own (never prom-client's global one), with libp2p's metrics in it; loaded only when asked for. */
async function metricsRegistry (): Promise<{ registry: Registry, libp2p: Libp2pOptions['metrics'] }> {
  // a CommonJS package: its exports are the default export of the bundle's chunk, as of Node's own import
  const [{ default: prom }, { prometheusMetrics }] = await Promise.all([import('prom-client'), import('@libp2p/prometheus-metrics')])
  const registry = new prom.Registry()
  // libp2p's metrics keep a cache of their own per process; one node per process is what a deployment runs
  return { registry, libp2p: prometheusMetrics({ registry, preserveExistingMetrics: true }) }
}

/** What the local skills hear of a transfer: `mesh.file.progress`, `mesh.file.done`, `mesh.file.failed`. */
function fileNotice ({ transfer }: TransferEvent): Record<string, unknown> {
  return {
    id: transfer.id,
    direction: transfer.direction,
    peer: transfer.peer,
    name: transfer.name,
    bytes: transfer.bytes,
    total: transfer.size,
    ...(transfer.path === undefined ? {} : { path: transfer.path }),
    ...(transfer.reason === undefined ? {} : { code: transfer.code, reason: transfer.reason })
  }
}

