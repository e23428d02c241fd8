import { RelayService } from './relay.ts'
import type { Outcome } from './messages.ts'
import type { MailLimits, RoomMail } from './mailbox.ts'
import type { Logger } from '../../common/index.ts'
import type { FigureRegistry } from '../../observe/index.ts'
import type { LocalAssistant } from '../ask/index.ts'
import type { Directory } from '../directory/index.ts'
import type { Link, LocalBus, MembershipProof, MycroftMessage } from '../link/index.ts'
import type { PeerId, PrivateKey } from '@libp2p/interface'

export type { Outcome } from './messages.ts'
export { DEFAULT_MAIL_LIMITS, type MailLimits, type RoomMail } from './mailbox.ts'
export { MAX_MAIL_TTL_MS } from './constants.ts'

/** Who may speak to this node through the mesh, decided where a message arrives. */
export interface Consent {
  /** May `origin` send this node a `type` (`ask` for a question)? `housemate`: it proved it is of this house. */
  allows: (origin: string, type: string, housemate: boolean) => boolean
  /** It tried and was refused: kept as a friend request; true when the owner should be told now (once an interval). */
  attempted: (origin: string, name: string) => Promise<boolean>
}

export interface RelayInit {
  name: string
  /** the top of a house: a room it does not know is not in the house */
  top: boolean
  log: Logger
  figures: FigureRegistry
  bus?: LocalBus
  /** this room's assistant, for questions asked of this room by name */
  assistant?: LocalAssistant
  /** where messages for rooms that are away wait, and how many; without it, such a message is answered `offline` */
  mail?: { path: string, limits: MailLimits }
  /** who may speak to this room; without it, anyone the links let through */
  consent?: Consent
  /** the house key: a room proves in what it sends that it is of the house, and checks it in what it receives */
  membership?: MembershipProof
}

export interface RelayComponents {
  peerId: PeerId
  /** signs what this room sends, so that the room it is for can tell it really came from here */
  privateKey: PrivateKey
  link: Link
  directory: Directory
}

/** A message from one room to another: up to the first node whose subtree holds the room, then down. */
export interface RoomRelay {
  /** `ttlMs`: how long it may wait for the room if the room is away (the keeping node's own limit if shorter) */
  send: (to: string, message: MycroftMessage, options?: { ttlMs?: number }) => Promise<Outcome>
  /** Asks one room's assistant, in a session of this node's own there; the answer comes back here. */
  ask: (to: string, utterances: string[], lang: string) => Promise<Outcome>
  /** What waits here for rooms that are away. */
  mail: () => RoomMail[]
  /** This room changed its friends (those of `origin`, or any): the nodes on the way forget its refusals. */
  consented: (origin?: string) => void
}

/** `createLibp2p({ services: { link, directory, relay: relay(init) } })`: needs the link and the directory. */
export function relay (init: RelayInit): (components: RelayComponents) => RoomRelay {
  return (components) => new RelayService(components, init)
}
