import { BusBridgeService } from './bridge.ts'
import type { DetectorOptions } from './detector.ts'
import type { BusClientCounters, BusState } from './bus.ts'
import type { BusMessage } from './message.ts'
import type { Logger } from '../common/index.ts'
import type { FigureRegistry } from '../observe/index.ts'
import type { AnnounceOutcome, Answer, Asker, Outcome, PeerRef, Question, Room, Sender, Speak } from '../routing/index.ts'

export { BusClient } from './bus-client.ts'
export type { BusClientCounters, BusState, MessageBus } from './bus.ts'
export { EmbeddedBus } from './bus-server.ts'
export * from './constants.ts'
export { UnhandledDetector, defaultDetectorOptions, isMeshTagged, type DetectorOptions, type Unhandled, type Signal } from './detector.ts'
export { parseBusMessage, forward, reply, sessionId, type BusMessage } from './message.ts'

/** What the bridge adds to the `bus` section of status. */
export interface BusBridgeFigures {
  mode: 'external' | 'embedded' | 'none'
  url: string | null
  state: BusState | 'disabled'
  counters: BusClientCounters | null
  /** programs connected to the embedded bus, this node included */
  clients: number | null
}

export interface BusBridgeInit {
  /** `auto`, `embedded`, `embedded:PORT`, a ws:// URL, or `none` (no bus: the bridge does nothing) */
  spec: string
  /** this node, as another bridge on the same bus is told */
  self: { peerId: string, name: string }
  log: Logger
  figures: FigureRegistry
  detector: DetectorOptions
  catchAllFallbacks?: string[]
  /** types a local skill may send a linked node later, by naming it in `context.destination` */
  deliveredTypes?: string[]
  /** types of local skills' requests carried to the parent (or to `context.mesh.to`), files and all */
  forwardTypes?: string[]
  /** how long to wait for the mesh to answer an utterance of this bus */
  askTimeoutMs?: number
}

/** The mesh's questions, as the bridge uses them. */
export interface MeshAsker {
  /** a parent that takes questions is linked */
  readonly canAsk: boolean
  ask: (utterances: string[], lang: string, deadlineMs?: number) => Promise<Answer>
}

/** The children a local skill can reach by `context.destination`. */
export interface MeshDelivery {
  recipient: (nameOrPeerId: string) => PeerRef | undefined
  deliver: (recipient: PeerRef, message: BusMessage) => void
}

/** Files that travel with a message: sent ahead, and the message's data rewritten to name where they now lie. */
export interface MeshFiles {
  carry: (message: BusMessage, to: PeerRef) => Promise<Record<string, unknown>>
}

/** The house, for local skills (`mesh.send`, `mesh.broadcast`, `mesh.rooms`). */
interface MeshHouse {
  relay: { send: (to: string, message: BusMessage, options?: { ttlMs?: number }) => Promise<Outcome>, ask: (to: string, utterances: string[], lang: string) => Promise<Outcome> }
  broadcast: { announce: (message: BusMessage) => Promise<AnnounceOutcome> }
  directory: { rooms: () => Promise<Room[]> }
  /** a local skill accepts or declines a friend request for the user (`mesh.friend.accept` / `decline`) */
  friends: { add: (who: string, types?: string[]) => Promise<unknown>, decline: (who: string) => Promise<boolean> }
}

/** What the bridge needs of the mesh. */
export interface Mesh extends MeshHouse {
  asks: MeshAsker
  delivery: MeshDelivery
  files: MeshFiles
}

/** The local messagebus, bridged into the mesh: this node's assistant, as the mesh sees it. */
export interface BusBridge {
  start: (mesh: Mesh) => Promise<void>
  stop: () => Promise<void>
  /** The local assistant answering a child's question (undefined: it does not know, or there is no bus). */
  answer: (question: Question, asker: Asker, signal: AbortSignal) => Promise<Speak[] | undefined>
  /** Puts a message another node sent on the local bus, for the local audio; `from` names the sender. */
  emitFromMesh: (message: BusMessage, from: Sender) => void
  /** Puts a child's request on the local bus for the local skills, addressed so their answers go back to it. */
  emitRequest: (message: BusMessage, from: Sender) => void
  /**
   * Emits `message` on the local bus (when given) and resolves with the first message `accept` takes from then on,
   * or undefined after `timeoutMs`.
   */
  request: (message: BusMessage | null, accept: (reply: BusMessage) => boolean, timeoutMs: number) => Promise<BusMessage | undefined>
  /** Tells the local skills something the mesh has to say (`connection.refused.warning`, `mesh.friend.request` …). */
  notify: (type: string, data: Record<string, unknown>) => void
}

export function createBusBridge (init: BusBridgeInit): BusBridge {
  return new BusBridgeService(init)
}
