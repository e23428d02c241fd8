import { HouseDiscoveryService } from './house-discovery.ts'
import type { Logger } from '../common/index.ts'
import type { FigureRegistry } from '../observe/index.ts'
import type { ComponentLogger, PeerId } from '@libp2p/interface'
import type { AddressManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

export { hubTag } from './house-tag.ts'
export { HouseKey } from './house-key.ts'

/** A hub of this house, as mDNS announced it: its peer id and the addresses worth dialling. */
export interface HubSighting {
  peerId: string
  addrs: Multiaddr[]
}

export interface HouseDiscoveryInit {
  /** the house key's bytes: only its hash is announced */
  houseKey: Uint8Array
  /** a hub announces itself; every other node of the house only listens */
  hub: boolean
  log: Logger
  figures: FigureRegistry
  /** does a node that answered for the house hold its key? Asked before a hub yields to it */
  proves?: (hub: HubSighting) => Promise<boolean>
}

export interface HouseDiscoveryComponents {
  peerId: PeerId
  addressManager: AddressManager
  logger: ComponentLogger
}

/**
 * Finds the house's hub on the LAN by mDNS, under a tag of the house's own. A house has one hub: when two see each
 * other, the one with the lower peer id stays the hub and the other yields (stops announcing, and takes it as its
 * hub), whichever started first.
 */
export interface HouseDiscovery {
  /** Calls `listener` for each sighting of the hub this node should link to; returns the unsubscribe function. */
  onHub: (listener: (hub: HubSighting) => void) => () => void
}

/** `createLibp2p({ services: { house: houseDiscovery(init) } })` */
export function houseDiscovery (init: HouseDiscoveryInit): (components: HouseDiscoveryComponents) => HouseDiscovery {
  return (components) => new HouseDiscoveryService(components, init)
}
