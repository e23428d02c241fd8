import { AskFlowService } from './ask-flow.ts'
import type { ASK_COUNTERS } from './constants.ts'
import type { Answer, PeerRef, Question, Speak } from './messages.ts'
import type { Logger } from '../../common/index.ts'
import type { FigureRegistry } from '../../observe/index.ts'
import type { Link } from '../link/index.ts'
import type { PeerId } from '@libp2p/interface'

export { ASK_DEADLINE_MS, MAX_ASKS_IN_FLIGHT_PER_CHILD } from './constants.ts'
export { AnswerSchema, QuestionSchema, SpeakSchema, type Answer, type PeerRef, type Question, type Speak } from './messages.ts'

/**
 * Who asked: the peer the question came from, and the node that first asked it (the route's origin), which
 * conversational state is kept for — two rooms behind one hub never share a session.
 */
export interface Asker extends PeerRef {
  origin: string
}

/** This node's own assistant, trying a child's question: what it said, or undefined when it does not know. */
export interface LocalAssistant {
  answer: (question: Question, asker: Asker, signal: AbortSignal) => Promise<Speak[] | undefined>
}

/** The `asks` section of status. */
export type AskFigures = Record<keyof typeof ASK_COUNTERS, number>

export interface AskFlowInit {
  /** this node's name, as answers give it */
  name: string
  log: Logger
  figures: FigureRegistry
  /** none: this node only passes questions on */
  assistant?: LocalAssistant
  maxInFlightPerChild?: number
  /** hears each question this node asked or answered for a child, once it is done (for the live page) */
  onAsked?: (record: AskRecord) => void
}

/** One question as it went: who asked, what, how it ended, who answered, how long it took. */
export interface AskRecord {
  /** `asked`: this node asked its parent (its own bus's question); `answered`: it took a child's question */
  hop: 'asked' | 'answered'
  asker: string
  utterance: string
  status: Answer['status']
  answeredBy: string | null
  ms: number
  at: string
}

export interface AskFlowComponents {
  peerId: PeerId
  link: Link
}

/** Questions up the tree (`ask`/`answer` envelopes), answered by the first assistant on the way that knows. */
export interface AskFlow {
  /** a parent that takes questions is linked */
  readonly canAsk: boolean
  /** Asks the parent a question from this node's own bus. */
  ask: (utterances: string[], lang: string, deadlineMs?: number) => Promise<Answer>
}

/** `createLibp2p({ services: { link: link(…), ask: askFlow(init) } })`: needs the link service. */
export function askFlow (init: AskFlowInit): (components: AskFlowComponents) => AskFlow {
  return (components) => new AskFlowService(components, init)
}
