import { mdns } from '@libp2p/mdns'
import { serviceCapabilities, type PeerDiscovery, type PeerInfo, type Startable } from '@libp2p/interface'
import { DISPROVED_PAUSE_MS, HOUSE_COUNTERS, QUERY_INTERVAL_MS } from './constants.ts'
import { hubTag } from './house-tag.ts'
import type { HouseDiscovery, HouseDiscoveryComponents, HouseDiscoveryInit, HubSighting } from './index.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

/** An address worth dialling on a LAN: TCP, and not loopback (a remote's 127.0.0.1 is this machine). */
function dialable (addr: Multiaddr): boolean {
  const text = addr.toString()
  return text.includes('/tcp/') && !text.startsWith('/ip4/127.') && !text.startsWith('/ip6/::1/')
}

/**
 * The house on the LAN: a hub answers mDNS queries for its house's tag; every node of the house asks for it,
 * once a second, and hears each answer (answers are multicast, so a hub that comes up is seen at once).
 */
export class HouseDiscoveryService implements HouseDiscovery, Startable {
  readonly [Symbol.toStringTag] = 'mycroft-mesh/house'
  readonly [serviceCapabilities] = ['@mycroft-mesh/house']

  private readonly components: HouseDiscoveryComponents
  private readonly init: HouseDiscoveryInit
  private readonly counters
  private readonly listeners = new Set<(hub: HubSighting) => void>()
  private discovery?: PeerDiscovery & Startable
  private yielded = false
  private readonly warned = new Set<string>()
  /** nodes that answered for the house without holding its key, until when they are not asked again */
  private readonly disproved = new Map<string, number>()

  constructor (components: HouseDiscoveryComponents, init: HouseDiscoveryInit) {
    this.components = components
    this.init = init
    this.counters = init.figures.counters('house', HOUSE_COUNTERS)
    init.figures.reading('house', () => ({ role: init.hub ? 'hub' : 'room', tag: hubTag(init.houseKey) }))
  }

  async start (): Promise<void> {
    await this.listen(this.init.hub)
  }

  async stop (): Promise<void> {
    await this.discovery?.stop()
    this.discovery = undefined
  }

  onHub (listener: (hub: HubSighting) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Another hub of this house answered: the lower peer id stays the hub, the other yields to it. */
  private async meet (other: HubSighting): Promise<boolean> {
    const self = this.components.peerId.toString()
    if (this.yielded) return true
    if (self < other.peerId) {
      if (!this.warned.has(other.peerId)) {
        this.warned.add(other.peerId)
        this.init.log.warn({ other: other.peerId }, `another hub announced itself for this house (${other.peerId}); it yields to this one, whose peer id is lower`)
      }
      return false
    }
    // the tag is public: a forged answer with a lower peer id must not silence the real hub (checked again a while later)
    if ((this.disproved.get(other.peerId) ?? 0) > Date.now()) return false
    if (this.init.proves !== undefined && !await this.init.proves(other)) {
      this.disproved.set(other.peerId, Date.now() + DISPROVED_PAUSE_MS)
      if (!this.warned.has(other.peerId)) {
        this.warned.add(other.peerId)
        this.init.log.warn({ other: other.peerId }, `a node answered for this house (${other.peerId}) but does not prove it holds the house key; this node stays the hub`)
      }
      return false
    }
    this.yielded = true
    this.init.log.warn({ hub: other.peerId }, `another hub already serves this house (${other.peerId}, lower peer id): this node stops announcing itself as the hub, and links to it unless it has a parent of its own`)
    await this.stop()
    await this.listen(false)
    return true
  }

  private async listen (announce: boolean): Promise<void> {
    const discovery = mdns({ serviceTag: hubTag(this.init.houseKey), broadcast: announce, interval: QUERY_INTERVAL_MS })(this.components) as PeerDiscovery & Startable
    discovery.addEventListener('peer', event => { this.sighted(event.detail) })
    await discovery.start()
    this.discovery = discovery
  }

  private sighted (peer: PeerInfo): void {
    const peerId = peer.id.toString()
    if (peerId === this.components.peerId.toString()) return
    const addrs = peer.multiaddrs.filter(dialable)
    this.counters.addressesIgnored += peer.multiaddrs.length - addrs.length
    if (addrs.length === 0) return
    this.counters.hubsSeen++
    const hub = { peerId, addrs }
    if (!this.init.hub) {
      this.tell(hub)
      return
    }
    void this.meet(hub).then(yielded => { if (yielded) this.tell(hub) })
  }

  private tell (hub: HubSighting): void {
    for (const listener of this.listeners) listener(hub)
  }
}
