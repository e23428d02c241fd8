import { randomUUID } from 'node:crypto'
import { ASSISTANT_SILENCE_MS, DEFAULT_CATCH_ALL_FALLBACKS, MESH_CONTEXT_KEY } from './constants.ts'
import { saysFinished } from './core-signals.ts'
import { forward, isRecord, type BusMessage } from './message.ts'
import type { MessageBus } from './bus.ts'
import type { Logger } from '../common/index.ts'
import type { Asker, Speak } from '../routing/index.ts'

export interface AnswererInit {
  bus: MessageBus
  log: Logger
  catchAllFallbacks?: string[]
}

interface Collecting {
  speaks: Speak[]
  done: () => void
  /** the assistant said anything at all about this utterance */
  heard: boolean
}

function meshTag (message: BusMessage): Record<string, unknown> | undefined {
  const tag = message.context[MESH_CONTEXT_KEY]
  return isRecord(tag) ? tag : undefined
}

/**
 * Answers for children with this node's own assistant: injects a child's utterance into the local bus under a
 * session of that child's own (never "default", so the local speakers stay silent), tagged with the mesh key,
 * and collects the tagged `speak` messages until the utterance is handled.
 */
export class ChildAnswerer {
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
  async answer (utterances: string[], lang: string, child: Asker, signal: AbortSignal): Promise<Speak[] | undefined> {
    const askId = randomUUID()
    const message: BusMessage = {
      type: 'recognizer_loop:utterance',
      data: { utterances, lang },
      context: {
        client_name: 'mycroft-mesh',
        source: child.peerId,
        destination: ['skills'],
        session: {
          // keyed by the node that first asked: two rooms behind one hub keep their conversations apart
          session_id: `mesh-${child.name}-${child.origin.slice(-8)}`,
          lang,
          blacklisted_skills: this.init.catchAllFallbacks ?? DEFAULT_CATCH_ALL_FALLBACKS
        },
        [MESH_CONTEXT_KEY]: { ask: askId, child: child.peerId, child_name: child.name, origin: child.origin }
      }
    }
    const speaks: Speak[] = []
    const finished = new Promise<void>(resolve => {
      // an assistant on the bus says something of every utterance at once (its intent service forwards the
      // context); a bus with none, such as a hub's own embedded bus, would keep the child waiting for nothing
      const silence = setTimeout(() => { if (this.collecting.get(askId)?.heard === false) done() }, ASSISTANT_SILENCE_MS)
      const done = (): void => {
        clearTimeout(silence)
        this.collecting.delete(askId)
        signal.removeEventListener('abort', done)
        resolve()
      }
      this.collecting.set(askId, { speaks, done, heard: false })
      signal.addEventListener('abort', done, { once: true })
    })
    if (signal.aborted || !this.init.bus.emit(message)) {
      this.collecting.get(askId)?.done()
      return undefined
    }
    await finished
    return speaks.length > 0 ? speaks : undefined
  }

  /** Is this message part of the answer to a child's question being collected now? */
  collects (message: BusMessage): boolean {
    const tag = meshTag(message)
    return typeof tag?.ask === 'string' && this.collecting.has(tag.ask)
  }

  private observe (message: BusMessage): void {
    const tag = meshTag(message)
    const collecting = typeof tag?.ask === 'string' ? this.collecting.get(tag.ask) : undefined
    if (collecting !== undefined) this.collect(collecting, message)
  }

  private collect (collecting: Collecting, message: BusMessage): void {
    if (message.type !== 'recognizer_loop:utterance') collecting.heard = true
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
      default:
        if (saysFinished(message)) collecting.done()
    }
  }
}
