import { randomUUID } from 'node:crypto'
import { MESH_CONTEXT_KEY } from './detector.ts'
import { destinationsOf, forward, isRecord, type BusMessage } from './message.ts'
import type { MessageBus } from './bus.ts'
import type { Logger } from '../common/index.ts'

/** The stock OVOS catch-all; left out of children's sessions so that "I don't know" reaches the mesh instead. */
export const DEFAULT_CATCH_ALL_FALLBACKS = ['ovos-skill-fallback-unknown.openvoiceos']
/** Message types a parent's skill may send a child later, by naming it in `context.destination`. */
export const DEFAULT_DELIVERED_TYPES = ['speak']

export interface ChildRef {
  peerId: string
  name: string
}

export interface SpokenAnswer {
  utterance: string
  lang?: string
  meta?: Record<string, unknown>
}

export interface AnswererInit {
  bus: MessageBus
  log: Logger
  catchAllFallbacks?: string[]
  deliveredTypes?: string[]
  /** the linked child a destination names, by peer id or by name */
  childNamed: (nameOrPeerId: string) => ChildRef | undefined
  /** a message on this bus that names a child, for that child's bus */
  deliver: (child: ChildRef, message: BusMessage) => void
}

interface Collecting {
  speaks: SpokenAnswer[]
  done: () => void
}

function meshTag (message: BusMessage): Record<string, unknown> | undefined {
  const tag = message.context[MESH_CONTEXT_KEY]
  return isRecord(tag) ? tag : undefined
}

/**
 * Answers for children with this node's own assistant: injects a child's utterance into the local bus under a
 * session of that child's own (never "default", so the local speakers stay silent), tagged with the mesh key,
 * and collects the tagged `speak` messages until the utterance is handled. Also hands a child any later
 * message a local skill addresses to it by `context.destination`.
 */
export class ChildAnswerer {
  readonly counters = { delivered: 0 }
  private readonly init: AnswererInit
  private readonly collecting = new Map<string, Collecting>()
  private unsubscribe?: () => void

  constructor (init: AnswererInit) {
    this.init = init
  }

  start (): void {
    this.unsubscribe = this.init.bus.onMessage(message => { this.observe(message) })
  }

  stop (): void {
    this.unsubscribe?.()
    for (const collecting of this.collecting.values()) collecting.done()
  }

  /** Resolves with what the local assistant said, or undefined when it did not know or the bus is down. */
  async answer (utterances: string[], lang: string, child: ChildRef, signal: AbortSignal): Promise<SpokenAnswer[] | undefined> {
    const askId = randomUUID()
    const message: BusMessage = {
      type: 'recognizer_loop:utterance',
      data: { utterances, lang },
      context: {
        client_name: 'mycroft-mesh',
        source: child.peerId,
        destination: ['skills'],
        session: {
          session_id: `mesh-${child.name}-${child.peerId.slice(-8)}`,
          lang,
          blacklisted_skills: this.init.catchAllFallbacks ?? DEFAULT_CATCH_ALL_FALLBACKS
        },
        [MESH_CONTEXT_KEY]: { ask: askId, child: child.peerId, child_name: child.name }
      }
    }
    const speaks: SpokenAnswer[] = []
    const finished = new Promise<void>(resolve => {
      const done = (): void => {
        this.collecting.delete(askId)
        signal.removeEventListener('abort', done)
        resolve()
      }
      this.collecting.set(askId, { speaks, done })
      signal.addEventListener('abort', done, { once: true })
    })
    if (signal.aborted || !this.init.bus.emit(message)) {
      this.collecting.get(askId)?.done()
      return undefined
    }
    await finished
    return speaks.length > 0 ? speaks : undefined
  }

  private observe (message: BusMessage): void {
    const tag = meshTag(message)
    const collecting = typeof tag?.ask === 'string' ? this.collecting.get(tag.ask) : undefined
    if (collecting !== undefined) {
      this.collect(collecting, message)
      return
    }
    if (tag?.answer === true || !(this.init.deliveredTypes ?? DEFAULT_DELIVERED_TYPES).includes(message.type)) return
    const children = new Set(destinationsOf(message).map(this.init.childNamed).filter(child => child !== undefined))
    for (const child of children) {
      this.counters.delivered++
      this.init.log.debug({ child: child.name, type: message.type }, `passing a later ${message.type} to ${child.name}`)
      this.init.deliver(child, message)
    }
  }

  private collect (collecting: Collecting, message: BusMessage): void {
    switch (message.type) {
      case 'speak': {
        const { utterance, lang, meta } = message.data
        if (typeof utterance !== 'string') return
        collecting.speaks.push({
          utterance,
          lang: typeof lang === 'string' ? lang : undefined,
          meta: isRecord(meta) ? meta : undefined
        })
        // no audio plays a child's session here; a skill that waits for its speech to end would stall 15 s
        this.init.bus.emit(forward(message, 'recognizer_loop:audio_output_end'))
        return
      }
      case 'ovos.utterance.handled':
      case 'mycroft.skill.handler.complete':
      case 'complete_intent_failure':
      case 'intent_failure':
        collecting.done()
    }
  }
}
