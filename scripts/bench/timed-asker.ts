/**
 * Questions timed across one hop: `complete_intent_failure` on the child's bus → child node → parent node →
 * the parent's bus, where an instant responder answers → `speak` on the child's bus; the responder's own time
 * is taken out, so a figure is the mesh's alone.
 */
import WebSocket from 'ws'
import type { MeshPair } from './mesh-pair.ts'

interface BusMessage { type: string, data: Record<string, unknown>, context: Record<string, unknown> }

/** Answers every utterance at once, as the reply a skill would give, and notes how long each answer took it. */
async function instantResponder (url: string): Promise<{ spentMs: Map<string, number>, close: () => void }> {
  const socket = new WebSocket(url)
  await new Promise<void>((resolve, reject) => { socket.once('open', () => { resolve() }).once('error', reject) })
  const spentMs = new Map<string, number>()
  socket.on('message', (data: Buffer) => {
    const started = performance.now()
    const message = JSON.parse(data.toString('utf8')) as BusMessage
    if (message.type !== 'recognizer_loop:utterance') return
    const utterance = (message.data.utterances as string[])[0] ?? ''
    const context = { ...message.context, source: message.context.destination, destination: message.context.source }
    socket.send(JSON.stringify({ type: 'speak', data: { utterance: `answer to ${utterance}`, lang: 'en-US' }, context }))
    socket.send(JSON.stringify({ type: 'ovos.utterance.handled', data: {}, context }))
    spentMs.set(utterance, performance.now() - started)
  })
  return { spentMs, close: () => { socket.close() } }
}

export interface TimedAsker {
  /** asks one question; resolves with the milliseconds the mesh took to answer it */
  ask: () => Promise<number>
  /** the baseline: one question put straight on the responder's own bus (no mesh), answered there, timed the same way */
  askOnOneBus: () => Promise<number>
  close: () => void
}

export async function timedAsker (pair: MeshPair): Promise<TimedAsker> {
  const responder = await instantResponder(pair.parentBusUrl)
  const waiting = new Map<string, (at: number) => void>()
  const onSpeak = (message: BusMessage): void => {
    if (message.type !== 'speak') return
    const question = String(message.data.utterance).replace(/^answer to /, '')
    waiting.get(question)?.(performance.now())
  }
  pair.childBus.onMessage(onSpeak)
  pair.parentBus.onMessage(onSpeak)
  let asked = 0
  const timed = async (question: string, put: () => void): Promise<number> => {
    const answered = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no answer to "${question}" within 15 s`)) }, 15_000)
      waiting.set(question, at => { clearTimeout(timer); waiting.delete(question); resolve(at) })
    })
    const started = performance.now()
    put()
    const at = await answered
    return at - started - (responder.spentMs.get(question) ?? 0)
  }
  const ask = async (): Promise<number> => {
    const question = `question ${++asked}`
    return timed(question, () => {
      pair.childBus.emit({ type: 'complete_intent_failure', data: { utterances: [question], lang: 'en-US' }, context: { source: 'audio', destination: ['skills'], session: { session_id: 'default' } } })
    })
  }
  const askOnOneBus = async (): Promise<number> => {
    const question = `solo question ${++asked}`
    return timed(question, () => {
      pair.parentBus.emit({ type: 'recognizer_loop:utterance', data: { utterances: [question], lang: 'en-US' }, context: { source: 'bench', destination: 'skills', session: { session_id: `bench-${asked}` } } })
    })
  }
  return { ask, askOnOneBus, close: responder.close }
}
