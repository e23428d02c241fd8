import { BroadcastService } from './broadcast.ts'

export { ANNOUNCE_BURST } from './constants.ts'
import type { Logger } from '../../common/index.ts'
import type { FigureRegistry } from '../../observe/index.ts'
import type { Link, LocalBus, MycroftMessage } from '../link/index.ts'
import type { PeerId, PrivateKey } from '@libp2p/interface'


export interface BroadcastInit {
  name: string
  /** the top of a house: announcements go up to it, and from it down to every room, not past it */
  top: boolean
  log: Logger
  figures: FigureRegistry
  bus?: LocalBus
}

export interface BroadcastComponents {
  peerId: PeerId
  /** signs this room's announcements, so that every room can tell they really came from here */
  privateKey: PrivateKey
  link: Link
}

/** One message to every room of the house, once each, never back to the room that sent it. */
export interface Broadcast {
  /** Resolves with how many rooms this node handed it to (its parent, or every child at the top). */
  announce: (message: MycroftMessage) => Promise<AnnounceOutcome>
}

/** sent: to how many linked peers it went; rate-limited: this node announces too often, and when to try again. */
export type AnnounceOutcome = { status: 'sent', rooms: number } | { status: 'rate-limited', reason: string }

/** `createLibp2p({ services: { link, broadcast: broadcast(init) } })`: needs the link service. */
export function broadcast (init: BroadcastInit): (components: BroadcastComponents) => Broadcast {
  return (components) => new BroadcastService(components, init)
}
