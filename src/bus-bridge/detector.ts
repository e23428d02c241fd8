import { saysHandled } from './core-signals.ts'
import { forward, isRecord, reply, sessionId, utterancesOf, type BusMessage } from './message.ts'
import { DEFAULT_FALLBACK_PRIORITY, DEFAULT_SAFETY_NET_MS, DEFAULT_SKILL_ID, MESH_CONTEXT_KEY } from './constants.ts'
import type { MessageBus } from './bus.ts'
import type { Speak } from '../routing/index.ts'
import { setBounded, type Logger } from '../common/index.ts'

/** Fallbacks whose priority core never told us are assumed to sit where the stock catch-all does. */
const UNKNOWN_FALLBACK_PRIORITY = 100
const FALLBACK_HANDLER = 'MeshBridge.ask_parent'
/** Sessions and utterances remembered at most: session ids come from the bus, and anyone on it may invent them. */
const MAX_TRACKED = 256


export interface DetectorOptions {
  skillId: string
  /** register as an OVOS fallback skill */
  fallback: boolean
  fallbackPriority: number
  /** classic Mycroft's `complete_intent_failure` */
  classic: boolean
  /** 0 turns the safety net off */
  safetyNetMs: number
}

export function defaultDetectorOptions (): DetectorOptions {
  return { skillId: DEFAULT_SKILL_ID, fallback: true, fallbackPriority: DEFAULT_FALLBACK_PRIORITY, classic: true, safetyNetMs: DEFAULT_SAFETY_NET_MS }
}

export type Signal = 'fallback' | 'classic' | 'safety-net'

/** An utterance the local assistant could not handle, claimed by the bridge; the owner must settle it once. */
export interface Unhandled {
  utterances: string[]
  lang: string
  signal: Signal
  /** speak the mesh's answer on the local bus and finish the handshake */
  answer: (speaks: Speak[], answeredBy: string) => void
  /** the mesh had no answer: give the utterance back to the local assistant */
  giveBack: () => void
}

export interface DetectorInit {
  bus: MessageBus
  options: DetectorOptions
  log: Logger
  /** claim only while this says yes (a parent is linked) */
  canAsk: () => boolean
  onUnhandled: (unhandled: Unhandled) => void
}

export function isMeshTagged (message: BusMessage): boolean {
  return isRecord(message.context[MESH_CONTEXT_KEY])
}

interface PendingUtterance {
  utterances: string[]
  message: BusMessage
  timer?: ReturnType<typeof setTimeout>
}

interface FallbackRound {
  utterances: string[]
  /** other fallbacks that said they can handle it */
  willing: string[]
}

/**
 * Notices utterances the local assistant cannot handle, by three signals: registering as an OVOS fallback
 * skill, classic Mycroft's intent failures, and a safety-net timeout when nothing handles an utterance.
 */
export class UnhandledDetector {
  private readonly init: DetectorInit
  private readonly options: DetectorOptions
  private readonly log: Logger
  private readonly bus: MessageBus
  private readonly priorities = new Map<string, number>()
  private readonly rounds = new Map<string, FallbackRound>()
  /** utterances not yet handled, oldest first, per session */
  private readonly pending = new Map<string, PendingUtterance[]>()
  private readonly unsubscribe: Array<() => void> = []

  constructor (init: DetectorInit) {
    this.init = init
    this.options = init.options
    this.log = init.log
    this.bus = init.bus
  }

  start (): void {
    this.unsubscribe.push(this.bus.onMessage(message => { this.observe(message) }))
    if (this.options.fallback) {
      this.unsubscribe.push(this.bus.onConnected(() => { this.register() }))
      if (this.bus.state === 'connected') this.register()
    }
  }

  /** Deregisters the fallback: core would otherwise wait on a stale registration for every utterance. */
  stop (): void {
    if (this.options.fallback && this.bus.state === 'connected') {
      this.bus.emit({ type: 'ovos.skills.fallback.deregister', data: { skill_id: this.options.skillId }, context: {} })
    }
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe()
    for (const queue of this.pending.values()) for (const utterance of queue) clearTimeout(utterance.timer)
    this.pending.clear()
  }

  private register (): void {
    this.bus.emit({
      type: 'ovos.skills.fallback.register',
      data: { skill_id: this.options.skillId, priority: this.options.fallbackPriority },
      context: { skill_id: this.options.skillId }
    })
  }

  private observe (message: BusMessage): void {
    const { skillId } = this.options
    if (this.options.fallback) {
      // core 2.x announces itself with mycroft.skills.initialized; fuller installs also send mycroft.ready
      if (message.type === 'mycroft.ready' || message.type === 'mycroft.skills.initialized') this.register()
      else if (message.type === 'ovos.skills.fallback.register') this.rememberPriority(message)
      else if (message.type === 'ovos.skills.fallback.ping') this.answerPing(message)
      else if (message.type === 'ovos.skills.fallback.pong') this.notePong(message)
      else if (message.type === `ovos.skills.fallback.${skillId}.request`) this.claimFallback(message)
    }
    if (isMeshTagged(message)) return

    if (message.type === 'recognizer_loop:utterance') this.track(message)
    else if (message.type === 'complete_intent_failure' && this.options.classic) this.claimClassic(message)
    else if (saysHandled(message)) this.settle(sessionId(message))
  }

  private rememberPriority (message: BusMessage): void {
    const { skill_id: id, priority } = message.data
    if (typeof id === 'string' && typeof priority === 'number') setBounded(this.priorities, id, priority, MAX_TRACKED)
  }

  private answerPing (message: BusMessage): void {
    const canHandle = !isMeshTagged(message) && this.init.canAsk()
    setBounded(this.rounds, sessionId(message), { utterances: utterancesOf(message.data), willing: [] }, MAX_TRACKED)
    this.bus.emit(reply(message, 'ovos.skills.fallback.pong', { skill_id: this.options.skillId, can_handle: canHandle }, { skill_id: this.options.skillId }))
  }

  private notePong (message: BusMessage): void {
    const { skill_id: id, can_handle: canHandle } = message.data
    if (typeof id !== 'string' || id === this.options.skillId || canHandle !== true) return
    const willing = this.rounds.get(sessionId(message))?.willing
    if (willing !== undefined && willing.length < MAX_TRACKED) willing.push(id)
  }

  /** The next fallback in core's order that said it can handle this utterance. */
  private nextFallback (session: string): string | undefined {
    const willing = this.rounds.get(session)?.willing ?? []
    const priorityOf = (id: string): number => this.priorities.get(id) ?? UNKNOWN_FALLBACK_PRIORITY
    return willing
      .filter(id => priorityOf(id) >= this.options.fallbackPriority)
      .sort((a, b) => priorityOf(a) - priorityOf(b))[0]
  }

  private claimFallback (request: BusMessage): void {
    const { skillId } = this.options
    const session = sessionId(request)
    this.settle(session)
    const utterances = utterancesOf(request.data)
    const lang = typeof request.data.lang === 'string' ? request.data.lang : 'en-US'
    const ownContext = { skill_id: skillId }
    this.bus.emit(forward(request, `ovos.skills.fallback.${skillId}.start`, {}, ownContext))
    const respond = (result: boolean): void => {
      this.bus.emit(forward(request, `ovos.skills.fallback.${skillId}.response`, { result, fallback_handler: FALLBACK_HANDLER }, ownContext))
    }
    this.hand({
      utterances,
      lang,
      signal: 'fallback',
      answer: (speaks, answeredBy) => {
        this.speak(request, speaks, lang, answeredBy)
        respond(true)
        this.bus.emit(forward(request, 'ovos.utterance.handled', {}, ownContext))
      },
      giveBack: () => {
        respond(false)
        const next = this.nextFallback(session)
        if (next !== undefined) {
          this.log.info({ next }, 'the mesh had no answer; handing the utterance to the next fallback')
          this.bus.emit(forward(request, `ovos.skills.fallback.${next}.request`, { ...request.data, skill_id: next }))
        } else {
          this.bus.emit(forward(request, 'complete_intent_failure', request.data, ownContext))
          this.bus.emit(forward(request, 'ovos.utterance.handled', {}, ownContext))
        }
      }
    })
  }

  private claimClassic (failure: BusMessage): void {
    const session = sessionId(failure)
    const oldest = this.settle(session)
    if (!this.init.canAsk()) return
    // Mycroft 21.x sends complete_intent_failure with empty data: the utterance is the oldest one pending
    const utterances = utterancesOf(failure.data).length > 0 ? utterancesOf(failure.data) : oldest?.utterances ?? []
    if (utterances.length === 0) return
    const lang = typeof failure.data.lang === 'string' ? failure.data.lang : 'en-US'
    this.hand({
      utterances,
      lang,
      signal: 'classic',
      answer: (speaks, answeredBy) => { this.speak(failure, speaks, lang, answeredBy) },
      giveBack: () => {}
    })
  }

  private track (message: BusMessage): void {
    const session = sessionId(message)
    const utterance: PendingUtterance = { utterances: utterancesOf(message.data), message }
    if (this.options.safetyNetMs > 0) {
      utterance.timer = setTimeout(() => { this.expire(session, utterance) }, this.options.safetyNetMs)
      utterance.timer.unref()
    }
    const queue = this.pending.get(session) ?? []
    queue.push(utterance)
    // an utterance nothing ever settles (no core on the bus, safety net off) must not be kept for ever
    for (const dropped of queue.splice(0, Math.max(0, queue.length - MAX_TRACKED))) clearTimeout(dropped.timer)
    for (const [oldSession, oldQueue] of this.pending) {
      if (this.pending.size < MAX_TRACKED || oldSession === session) break
      for (const dropped of oldQueue) clearTimeout(dropped.timer)
      this.pending.delete(oldSession)
    }
    this.pending.set(session, queue)
  }

  /** The oldest utterance of a session was handled (or claimed): stop watching it. */
  private settle (session: string): PendingUtterance | undefined {
    const queue = this.pending.get(session)
    const oldest = queue?.shift()
    if (oldest !== undefined) clearTimeout(oldest.timer)
    if (queue?.length === 0) this.pending.delete(session)
    return oldest
  }

  private expire (session: string, utterance: PendingUtterance): void {
    const queue = this.pending.get(session)
    const index = queue?.indexOf(utterance) ?? -1
    if (index < 0) return
    queue?.splice(index, 1)
    if (queue?.length === 0) this.pending.delete(session)
    if (!this.init.canAsk() || utterance.utterances.length === 0) return
    this.log.info({ utterance: utterance.utterances[0], afterMs: this.options.safetyNetMs }, 'nothing handled an utterance in time; asking the mesh')
    const lang = typeof utterance.message.data.lang === 'string' ? utterance.message.data.lang : 'en-US'
    this.hand({
      utterances: utterance.utterances,
      lang,
      signal: 'safety-net',
      answer: (speaks, answeredBy) => { this.speak(reply(utterance.message, 'speak'), speaks, lang, answeredBy) },
      giveBack: () => {}
    })
  }

  private hand (unhandled: Unhandled): void {
    let settled = false
    const once = <A extends unknown[]>(fn: (...args: A) => void) => (...args: A): void => {
      if (settled) return
      settled = true
      fn(...args)
    }
    const claim = { ...unhandled, answer: once(unhandled.answer), giveBack: once(unhandled.giveBack) }
    // a request core sent before the parent went away (or one nobody should have sent): nothing to ask
    if (!this.init.canAsk() || unhandled.utterances.length === 0) {
      claim.giveBack()
      return
    }
    this.init.onUnhandled(claim)
  }

  /** Speaks as a local skill would: the context of the message being answered, so the local audio plays it. */
  private speak (about: BusMessage, speaks: Speak[], lang: string, answeredBy: string): void {
    for (const speak of speaks) {
      this.bus.emit(forward(about, 'speak', {
        utterance: speak.utterance,
        expect_response: false,
        lang: speak.lang ?? lang,
        meta: { ...speak.meta, skill: this.options.skillId, answered_by: answeredBy }
      }, { skill_id: this.options.skillId, [MESH_CONTEXT_KEY]: { answer: true, answered_by: answeredBy } }))
    }
  }
}
