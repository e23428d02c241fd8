import { parseUntrusted } from '../common/index.ts'
import { z } from 'zod'
import { errorMessage, type Logger } from '../common/index.ts'
import { ASK_DEADLINE_MS, DEFAULT_TTL, HOP_MARGIN_MS, LOCAL_ANSWER_SHARE, MAX_ASKS_IN_FLIGHT_PER_CHILD } from './constants.ts'
import { LinkClosedError, RequestTimeoutError, type LinkSession } from './link-session.ts'
import type { Envelope } from './envelope.ts'
import type { LinkService } from './link.ts'

export const AskKind = { ask: 'ask', answer: 'answer' } as const

export const QuestionSchema = z.object({
  utterances: z.array(z.string().max(2_000)).min(1).max(16),
  lang: z.string().min(2).max(16),
  /** how long the asker waits, from when this hop received it */
  deadlineMs: z.number().int().min(100).max(3_600_000)
})
export type Question = z.infer<typeof QuestionSchema>

export const SpeakSchema = z.object({
  utterance: z.string().max(8_000),
  lang: z.string().max(16).optional(),
  expect_response: z.boolean().optional(),
  meta: z.record(z.string(), z.unknown()).optional()
})
export type Speak = z.infer<typeof SpeakSchema>

const peerRef = z.object({ peerId: z.string().max(128), name: z.string().max(64) })
export type PeerRef = z.infer<typeof peerRef>

export const AnswerSchema = z.object({
  /**
   * answered: `speaks` holds the answer; no-answer: nobody up to the root knew; timeout: the deadline passed;
   * busy: the parent refused more questions for now; loop: the question came back to a node it had passed;
   * error: something failed on the way (`reason` says what)
   */
  status: z.enum(['answered', 'no-answer', 'timeout', 'busy', 'loop', 'error']),
  speaks: z.array(SpeakSchema).max(64),
  answeredBy: peerRef.optional(),
  reason: z.string().max(1_024).optional()
})
export type Answer = z.infer<typeof AnswerSchema>

/**
 * This node's own assistant trying a child's question; resolves with the answer, or undefined when it does
 * not know (or there is no assistant).
 */
export type LocalAnswerer = (question: Question, asker: PeerRef, signal: AbortSignal) => Promise<Speak[] | undefined>

export interface AskCounters {
  /** questions this node sent to its parent */
  asksSent: number
  answered: number
  unanswered: number
  timedOut: number
  failed: number
  /** questions from children */
  asksFromChildren: number
  /** of those, answered by this node's own assistant */
  answeredForChildren: number
  /** of those, passed on to this node's parent */
  forwardedUp: number
  /** of those, refused because the child had too many in flight */
  refusedBusy: number
}

export interface AskRouterInit {
  link: LinkService
  self: PeerRef
  parent: () => LinkSession | undefined
  answerLocally?: LocalAnswerer
  log: Logger
  maxInFlightPerChild?: number
}

const noAnswer = (status: Answer['status'], reason: string, answeredBy?: PeerRef): Answer => ({ status, speaks: [], reason, answeredBy })

/**
 * The ask flow of the mesh: a question goes up the tree, hop by hop, until an ancestor's assistant answers
 * or the root says nobody knows. Every hop adds itself to the route and lowers the ttl and the deadline;
 * a question that comes back to a node already on its route is refused as a loop.
 */
export class AskRouter {
  readonly counters: AskCounters = {
    asksSent: 0, answered: 0, unanswered: 0, timedOut: 0, failed: 0,
    asksFromChildren: 0, answeredForChildren: 0, forwardedUp: 0, refusedBusy: 0
  }

  private readonly init: AskRouterInit
  private readonly log: Logger
  private readonly inFlight = new Map<string, number>()

  constructor (init: AskRouterInit) {
    this.init = init
    this.log = init.log
    init.link.handleKind(AskKind.ask, async (envelope, session) => this.handleAsk(envelope, session))
  }

  /** Asks the parent a question from this node's own bus. */
  async ask (utterances: string[], lang: string, deadlineMs = ASK_DEADLINE_MS): Promise<Answer> {
    this.counters.asksSent++
    const answer = await this.askParent({ utterances, lang, deadlineMs }, [], DEFAULT_TTL)
    this.count(answer)
    return answer
  }

  private count (answer: Answer): void {
    switch (answer.status) {
      case 'answered': this.counters.answered++; break
      case 'no-answer': this.counters.unanswered++; break
      case 'timeout': this.counters.timedOut++; break
      default: this.counters.failed++
    }
  }

  private async askParent (question: Question, route: string[], ttl: number): Promise<Answer> {
    const parent = this.init.parent()
    if (parent === undefined) return noAnswer('no-answer', 'no parent is linked', this.init.self)
    const deadlineMs = question.deadlineMs - HOP_MARGIN_MS
    if (deadlineMs < 100) return noAnswer('timeout', 'no time left to ask further up', this.init.self)
    try {
      const reply = await parent.request(AskKind.ask, { ...question, deadlineMs }, {
        route: [...route, this.init.self.peerId],
        ttl,
        timeoutMs: deadlineMs
      })
      const answer = parseUntrusted(AnswerSchema, reply.body)
      if (reply.kind !== AskKind.answer || !answer.success) return noAnswer('error', `the parent answered with an unreadable ${reply.kind}`)
      return answer.data
    } catch (err) {
      if (err instanceof RequestTimeoutError) return noAnswer('timeout', `no answer from the parent within ${deadlineMs} ms`)
      if (err instanceof LinkClosedError) return noAnswer('error', `the parent link was lost mid-question (${err.message})`)
      return noAnswer('error', errorMessage(err))
    }
  }

  private async handleAsk (envelope: Envelope, session: LinkSession): Promise<void> {
    this.counters.asksFromChildren++
    const question = parseUntrusted(QuestionSchema, envelope.body)
    if (!question.success) {
      this.log.warn({ peer: session.remotePeer, reason: question.error.issues[0]?.message }, 'dropped an unreadable question')
      await session.sendError('invalid', `ask field '${question.error.issues[0]?.path.join('.')}': ${question.error.issues[0]?.message}`, envelope.id)
      return
    }
    const child = this.init.link.children.get(session.remotePeer)
    const asker: PeerRef = { peerId: session.remotePeer, name: child?.name ?? session.remotePeer }
    // refused at once, before anything else this tick: the refusal goes out in the order the questions came
    const refusal = this.refusal(asker, envelope)
    const answer = refusal ?? await this.answerFor(question.data, asker, envelope, Date.now())
    if (session.isOpen) await session.reply(envelope, AskKind.answer, answer).catch(() => {})
  }

  /** A question that came back to this node, or one too many from the same child. */
  private refusal (asker: PeerRef, envelope: Envelope): Answer | undefined {
    const self = this.init.self
    if (envelope.route.includes(self.peerId)) {
      this.log.warn({ from: asker.name, route: envelope.route }, 'refused a question that came back to this node (loop)')
      return noAnswer('loop', `the question came back to ${self.name}`, self)
    }
    const limit = this.init.maxInFlightPerChild ?? MAX_ASKS_IN_FLIGHT_PER_CHILD
    const inFlight = this.inFlight.get(asker.peerId) ?? 0
    if (inFlight >= limit) {
      this.counters.refusedBusy++
      this.log.warn({ from: asker.name, inFlight }, `refused a question from ${asker.name}: ${limit} of its questions are already in flight`)
      return noAnswer('busy', `${self.name} is already working on ${limit} questions from ${asker.name}; ask again later`, self)
    }
    return undefined
  }

  private async answerFor (question: Question, asker: PeerRef, envelope: Envelope, receivedAt: number): Promise<Answer> {
    const self = this.init.self
    const inFlight = this.inFlight.get(asker.peerId) ?? 0
    this.inFlight.set(asker.peerId, inFlight + 1)
    try {
      const remainingMs = (): number => question.deadlineMs - (Date.now() - receivedAt)
      const canEscalate = envelope.ttl > 1 && this.init.parent() !== undefined
      const localMs = (canEscalate ? question.deadlineMs * LOCAL_ANSWER_SHARE : question.deadlineMs) - HOP_MARGIN_MS
      const signal = AbortSignal.timeout(Math.max(0, Math.floor(localMs)))
      const speaks = await this.init.answerLocally?.(question, asker, signal).catch((err: unknown) => {
        this.log.warn({ err: errorMessage(err) }, 'this node\'s assistant failed to answer a child')
        return undefined
      })
      if (speaks !== undefined && speaks.length > 0) {
        this.counters.answeredForChildren++
        this.log.info({ from: asker.name, utterance: question.utterances[0] }, `answered ${asker.name}'s question`)
        return { status: 'answered', speaks, answeredBy: self }
      }
      if (envelope.ttl <= 1) return noAnswer('no-answer', 'the question went as far up as its ttl allows', self)
      if (this.init.parent() === undefined) return noAnswer('no-answer', `nobody up to ${self.name} knows`, self)
      this.counters.forwardedUp++
      return await this.askParent({ ...question, deadlineMs: remainingMs() }, envelope.route, envelope.ttl - 1)
    } finally {
      const left = (this.inFlight.get(asker.peerId) ?? 1) - 1
      if (left === 0) this.inFlight.delete(asker.peerId)
      else this.inFlight.set(asker.peerId, left)
    }
  }
}
