import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { mplex } from '@libp2p/mplex'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import pkg from '../../package.json' with { type: 'json' }
import { UserError, errorMessage, type Logger } from '../common/index.ts'
import { link, type LinkService } from '../routing/index.ts'
import { startControlServer } from './control.ts'
import { ensureHome, homePaths, type HomePaths } from './home.ts'
import { loadOrCreateIdentity } from './identity.ts'
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
  link: LinkService['counters']
}

export interface MeshNodeInit {
  home: string
  config: NodeConfig
  log: Logger
}

type Services = { link: LinkService, ping: ReturnType<ReturnType<typeof ping>>, identify: ReturnType<ReturnType<typeof identify>> }

const NO_PARENT: ParentStatus = { state: 'none', addr: null, peerId: null, name: null, since: null, rttMs: null, attempts: 0, lastError: null }

/**
 * One peer of the mesh: its libp2p node, identity and home, the link to its parent (kept alive by a
 * reconnect loop) and the links of its children, and the local control endpoint that `status` asks.
 */
export class MeshNode {
  readonly config: NodeConfig
  readonly paths: HomePaths
  private readonly log: Logger
  private libp2p?: Libp2p<Services>
  private parentLink?: ParentLink
  private control?: Server
  private startedAt = new Date()

  constructor (init: MeshNodeInit) {
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

  async start (): Promise<void> {
    await ensureHome(this.paths)
    const identity = await loadOrCreateIdentity(this.paths.identity, this.log)
    if (identity.created) this.log.info({ peerId: identity.peerId.toString(), home: this.paths.dir }, 'created a new identity')

    // claim the home first: a second node on the same home must not even bind its ports
    this.control = await startControlServer(this.paths.controlSocket, this.paths.dir, { '/status': () => this.status() })
    try {
      this.libp2p = await this.createLibp2p(identity.privateKey)
    } catch (err) {
      await this.closeControl()
      throw listenError(err, this.config.listen)
    }
    this.startedAt = new Date()
    this.log.info({ peerId: this.peerId, addrs: this.addrs }, `node ${this.config.name} listening`)

    if (this.config.parent !== null) {
      this.parentLink = new ParentLink({
        link: this.link,
        addr: multiaddr(this.config.parent),
        backoff: this.config.reconnect,
        log: this.log
      })
      this.parentLink.start()
    }
  }

  /** Says goodbye to parent and children, then stops. */
  async stop (): Promise<void> {
    await this.parentLink?.stop()
    await this.libp2p?.stop()
    await this.closeControl()
    this.log.info('node stopped')
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
      link: { ...node.services.link.counters }
    }
  }

  private async createLibp2p (privateKey: PrivateKey): Promise<Libp2p<Services>> {
    const muxers = { yamux: yamux(), mplex: mplex() }
    return createLibp2p({
      privateKey,
      addresses: { listen: this.config.listen },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: this.config.muxers.map(name => muxers[name]),
      connectionManager: {
        maxConnections: 4_096,
        maxIncomingPendingConnections: 64,
        inboundConnectionThreshold: 64
      },
      services: {
        identify: identify(),
        ping: ping(),
        link: link({
          self: { name: this.config.name, version: VERSION, capabilities: [] },
          log: this.log,
          heartbeatMs: this.config.heartbeatMs,
          missedBeats: this.config.missedBeats
        })
      }
    })
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
