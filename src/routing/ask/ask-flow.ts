import { errorMessage, LogLimiter, sleep, type Logger } from '../../common/index.ts'
import { AskSlots } from './ask-slots.ts'
import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { LinkKindService, DEFAULT_TTL, LinkClosedError, parseUntrusted, RemoteError, RequestTimeoutError, type Envelope, type LinkSession, type Need } from '../link/index.ts'
import { ASK_CAPABILITY, ASK_DEADLINE_MS, AskKind, BUSY_RETRY_MS, HOP_MARGIN_MS, LOCAL_ANSWER_SHARE, MAX_ASKS_IN_FLIGHT_PER_CHILD, ASK_COUNTERS } from './constants.ts'
import { AnswerSchema, QuestionSchema, type Answer, type PeerRef, type Question } from './messages.ts'
import type { AskFlow, AskFlowComponents, AskFlowInit, AskRecord, Asker } from './index.ts'

const noAnswer = (status: Answer['status'], reason: string, answeredBy?: PeerRef): Answer => ({ status, speaks: [], reason, answeredBy })
/** Below this, no time is left to ask further up. */
const LEAST_USEFUL_MS = 100
const ASK_NEED: Need = { permission: ASK_CAPABILITY }

/**
 * The ask flow of the mesh: a question goes up the tree, hop by hop, until an ancestor's assistant answers
 * or the root says nobody knows. Every hop adds itself to the route and lowers the ttl and the deadline;
 * a question that comes back to a node already on its route is refused as a loop.
 */
export class AskFlowService extends LinkKindService implements AskFlow {
  readonly [Symbol.toStringTag] = 'mycroft-mesh/ask'
  readonly [serviceCapabilities] = ['@mycroft-mesh/ask']
  readonly [serviceDependencies] = ['@mycroft-mesh/link']
  readonly capability = ASK_CAPABILITY
  readonly permission = ASK_CAPABILITY
  readonly kinds = [AskKind.ask]

  private readonly init: AskFlowInit
  private readonly log: Logger
  private readonly repeats: LogLimiter
  private readonly counters
  private readonly self: PeerRef
  private readonly inFlight = new Map<string, number>()
  /** questions toward the parent, within the limit it stated */
  private readonly slots = new AskSlots(() => this.link.parent?.limits.asksInFlight ?? Infinity)

  constructor (components: AskFlowComponents, init: AskFlowInit) {
    super(components.link)
    this.init = init
    this.log = init.log
    this.repeats = new LogLimiter(init.log)
    this.self = { peerId: components.peerId.toString(), name: init.name }
    this.counters = init.figures.counters('asks', ASK_COUNTERS)
    init.figures.reading('asks', () => ({ waiting: this.slots.queued }))
  }

  /** A child may have this many questions in flight here for each node of its subtree. */
  limits (weight: number): Record<string, number> {
    return { asksInFlight: this.perChildLimit() * weight }
  }

  private perChildLimit (): number {
    return this.init.maxInFlightPerChild ?? MAX_ASKS_IN_FLIGHT_PER_CHILD
  }

  get canAsk (): boolean {
    return this.link.parent?.session.supports(ASK_CAPABILITY) === true
  }

  needs (): Need {
    return ASK_NEED
  }

  async handle (envelope: Envelope, session: LinkSession): Promise<void> {
    this.counters.asksFromChildren++
    const question = parseUntrusted(QuestionSchema, envelope.body)
    if (!question.success) {
      session.violation('invalid', `ask field '${question.error.issues[0]?.path.join('.')}': ${question.error.issues[0]?.message}`, envelope.id)
      return
    }
    const child = this.link.children.get(session.remotePeer)
    const asker: Asker = { peerId: session.remotePeer, name: child?.name ?? session.remotePeer, origin: envelope.route[0] ?? session.remotePeer }
    // refused at once, before anything else this tick: the refusal goes out in the order the questions came
    const refusal = this.refusal(asker, envelope, child?.subtree ?? 1)
    const startedAt = Date.now()
    const answer = refusal ?? await this.answerFor(question.data, asker, envelope, startedAt)
    this.record('answered', asker.name, question.data.utterances, answer, startedAt)
    if (session.isOpen) await session.reply(envelope, AskKind.answer, answer).catch(() => {})
  }

  async ask (utterances: string[], lang: string, deadlineMs = ASK_DEADLINE_MS): Promise<Answer> {
    this.counters.asksSent++
    const question = parseUntrusted(QuestionSchema, { utterances, lang, deadlineMs })
    if (!question.success) {
      // a parent would refuse it as a protocol violation: it is given back here, saying why
      const issue = question.error.issues[0]
      const answer = noAnswer('error', `this question cannot be asked of the mesh: ${issue?.path.join('.')}: ${issue?.message}`, this.self)
      this.count(answer)
      return answer
    }
    const startedAt = Date.now()
    const answer = await this.askParent(question.data, [], DEFAULT_TTL)
    this.count(answer)
    this.record('asked', this.self.name, utterances, answer, startedAt)
    return answer
  }

  private record (hop: AskRecord['hop'], asker: string, utterances: string[], answer: Answer, startedAt: number): void {
    if (this.init.onAsked === undefined) return
    const utterance = utterances[0] ?? ''
    this.init.onAsked({ hop, asker, utterance: utterance.length > 120 ? `${utterance.slice(0, 117)}…` : utterance, status: answer.status, answeredBy: answer.answeredBy?.name ?? null, ms: Date.now() - startedAt, at: new Date(startedAt).toISOString() })
  }

  private count (answer: Answer): void {
    switch (answer.status) {
      case 'answered': this.counters.answered++; break
      case 'no-answer': this.counters.unanswered++; break
      case 'timeout': this.counters.timedOut++; break
      default: this.counters.failed++
    }
  }

  /**
   * Asks the parent, keeping within the questions in flight it allows: a question waits for a slot (earliest
   * deadline first), and one the parent says it is too busy for is asked again when it says, while time is left.
   */
  private async askParent (question: Question, route: string[], ttl: number): Promise<Answer> {
    const deadlineAt = Date.now() + question.deadlineMs - HOP_MARGIN_MS
    for (;;) {
      const parent = this.link.parent
      if (parent === undefined) return noAnswer('no-answer', 'no parent is linked', this.self)
      if (!parent.session.supports(ASK_CAPABILITY)) {
        return noAnswer('error', `the parent ${parent.welcome.name} does not take questions (it serves: ${parent.welcome.capabilities.join(', ') || 'nothing'})`)
      }
      if (!await this.slots.acquire(deadlineAt - LEAST_USEFUL_MS)) {
        this.counters.givenBack++
        return noAnswer('busy', `${this.slots.queued} questions already wait for the parent ${parent.welcome.name}; this one could not be sent in time`, this.self)
      }
      let answer: Answer
      try {
        answer = await this.request(parent.session, question, route, ttl, deadlineAt - Date.now())
      } finally {
        this.slots.release()
      }
      const waitMs = answer.status === 'busy' ? answer.retryAfterMs ?? BUSY_RETRY_MS : undefined
      if (waitMs === undefined) return answer
      if (Date.now() + waitMs > deadlineAt - LEAST_USEFUL_MS) {
        this.counters.givenBack++
        return answer
      }
      this.counters.retriedBusy++
      await sleep(waitMs)
    }
  }

  private async request (session: LinkSession, question: Question, route: string[], ttl: number, deadlineMs: number): Promise<Answer> {
    if (deadlineMs < LEAST_USEFUL_MS) return noAnswer('timeout', 'no time left to ask further up', this.self)
    try {
      const reply = await session.request(AskKind.ask, { ...question, deadlineMs }, {
        route: [...route, this.self.peerId],
        ttl,
        timeoutMs: deadlineMs
      })
      const answer = parseUntrusted(AnswerSchema, reply.body)
      if (reply.kind !== AskKind.answer || !answer.success) return noAnswer('error', `the parent answered with an unreadable ${reply.kind}`)
      return answer.data
    } catch (err) {
      if (err instanceof RequestTimeoutError) return noAnswer('timeout', `no answer from the parent within ${deadlineMs} ms`)
      if (err instanceof LinkClosedError) return noAnswer('error', `the parent link was lost mid-question (${err.message})`)
      if (err instanceof RemoteError && err.code === 'busy') return { ...noAnswer('busy', `the parent is busy: ${err.message}`), retryAfterMs: err.retryAfterMs }
      if (err instanceof RemoteError) return noAnswer('error', `the parent refused the question: ${err.message}`)
      return noAnswer('error', errorMessage(err))
    }
  }

  /** A question that came back to this node, or one too many from the same child. */
  private refusal (asker: PeerRef, envelope: Envelope, subtree: number): Answer | undefined {
    const { self } = this
    if (envelope.route.includes(self.peerId)) {
      this.log.warn({ from: asker.name, route: envelope.route }, 'refused a question that came back to this node (loop)')
      return noAnswer('loop', `the question came back to ${self.name}`, self)
    }
    const limit = this.perChildLimit() * subtree
    const inFlight = this.inFlight.get(asker.peerId) ?? 0
    if (inFlight >= limit) {
      this.counters.refusedBusy++
      this.repeats.note(`busy:${asker.peerId}`, 'warn', { from: asker.name, inFlight }, `refused a question from ${asker.name}: ${limit} of its questions are already in flight`)
      return { ...noAnswer('busy', `${self.name} is already working on ${limit} questions from ${asker.name}; ask again later`, self), retryAfterMs: BUSY_RETRY_MS }
    }
    return undefined
  }

  private async answerFor (question: Question, asker: Asker, envelope: Envelope, receivedAt: number): Promise<Answer> {
    const { self } = this
    const inFlight = this.inFlight.get(asker.peerId) ?? 0
    this.inFlight.set(asker.peerId, inFlight + 1)
    try {
      const remainingMs = (): number => question.deadlineMs - (Date.now() - receivedAt)
      const canEscalate = envelope.ttl > 1 && this.link.parent !== undefined
      const localMs = (canEscalate ? question.deadlineMs * LOCAL_ANSWER_SHARE : question.deadlineMs) - HOP_MARGIN_MS
      const signal = AbortSignal.timeout(Math.max(0, Math.floor(localMs)))
      const speaks = await this.init.assistant?.answer(question, asker, signal).catch((err: unknown) => {
        this.log.warn({ err: errorMessage(err) }, 'this node\'s assistant failed to answer a child')
        return undefined
      })
      if (speaks !== undefined && speaks.length > 0) {
        this.counters.answeredForChildren++
        this.log.info({ from: asker.name, utterance: question.utterances[0] }, `answered ${asker.name}'s question`)
        return { status: 'answered', speaks, answeredBy: self }
      }
      if (envelope.ttl <= 1) return noAnswer('no-answer', 'the question went as far up as its ttl allows', self)
      if (this.link.parent === undefined) return noAnswer('no-answer', `nobody up to ${self.name} knows`, self)
      this.counters.forwardedUp++
      return await this.askParent({ ...question, deadlineMs: remainingMs() }, envelope.route, envelope.ttl - 1)
    } finally {
      const left = (this.inFlight.get(asker.peerId) ?? 1) - 1
      if (left === 0) this.inFlight.delete(asker.peerId)
      else this.inFlight.set(asker.peerId, left)
    }
  }
}
