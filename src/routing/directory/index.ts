import { DirectoryService } from './directory.ts'
import type { Room } from './messages.ts'
import type { Logger } from '../../common/index.ts'
import type { FigureRegistry } from '../../observe/index.ts'
import type { Link } from '../link/index.ts'
import type { PeerId } from '@libp2p/interface'

export type { Room } from './messages.ts'

export interface DirectoryInit {
  name: string
  /** the top of a house (its hub): it answers for the house and asks nobody above it */
  top: boolean
  log: Logger
  figures: FigureRegistry
  /** the children this node knows (its trust store), so that the house lists the ones not linked now as offline */
  known?: () => Array<{ peerId: string, name: string }>
}

export interface DirectoryComponents {
  peerId: PeerId
  link: Link
}

/** Where a room is: this node itself, the linked child under which it hangs, or known here but offline. */
export type Holder = { self: true } | { self: false, childPeerId: string } | { self: false, offline: true }

/**
 * The rooms of the house: every node tells its parent the rooms of its subtree when they change, so the top of the
 * house knows them all, and any node can list them by asking up to it.
 */
export interface Directory {
  /** The whole house as its top knows it (this node's subtree, when it is the top or has no parent). */
  rooms: () => Promise<Room[]>
  /** This node's subtree as its children reported it: every node below, with the node it hangs under. */
  below: () => Room[]
  /** Which way a room is from here, or undefined when it is not in this node's subtree. */
  holderOf: (name: string) => Holder | undefined
}

/** `createLibp2p({ services: { link: link(…), directory: directory(init) } })`: needs the link service. */
export function directory (init: DirectoryInit): (components: DirectoryComponents) => Directory {
  return (components) => new DirectoryService(components, init)
}
