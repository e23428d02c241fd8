/**
 * What one hop of the ask flow costs: a question the child's assistant failed (`complete_intent_failure` on the
 * child's bus) → child node → parent node → the parent's bus, where an instant responder answers → back to a
 * `speak` on the child's bus. The responder's own time is taken out, so the figure is the mesh's alone: two
 * nodes, their buses, and the link between them.
 */
import WebSocket from 'ws'
import { quantile } from './stats.ts'
import { startMeshPair } from './mesh-pair.ts'

export interface AskOverhead {
  p50_ms: number
  p99_ms: number
  samples: number
}

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

/** Asks before measuring: a node's code is compiled and optimised on first use, and a running node is past that. */
const WARM_UP_ASKS = 500

export async function benchAskOverhead (options: { sequential: number, concurrency: number, concurrentRounds: number, log: (line: string) => void }): Promise<{ one: AskOverhead, concurrent: AskOverhead }> {
  const pair = await startMeshPair({ parent: { maxAsksInFlightPerChild: options.concurrency * 2, logLevel: 'warn' }, child: { logLevel: 'warn' } })
  // a house child may send 50 frames a second; this one asks as fast as it can
  await pair.allowRate(100_000)
  const responder = await instantResponder(pair.parentBusUrl)
  const waiting = new Map<string, (at: number) => void>()
  pair.childBus.onMessage(message => {
    if (message.type !== 'speak') return
    const question = String(message.data.utterance).replace(/^answer to /, '')
    waiting.get(question)?.(performance.now())
  })
  let asked = 0
  const ask = async (): Promise<number> => {
    const question = `question ${++asked}`
    const answered = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no answer to "${question}" within 15 s`)) }, 15_000)
      waiting.set(question, at => { clearTimeout(timer); waiting.delete(question); resolve(at) })
    })
    const started = performance.now()
    pair.childBus.emit({ type: 'complete_intent_failure', data: { utterances: [question], lang: 'en-US' }, context: { source: 'audio', destination: ['skills'], session: { session_id: 'default' } } })
    const at = await answered
    return at - started - (responder.spentMs.get(question) ?? 0)
  }

  try {
    for (let i = 0; i < WARM_UP_ASKS; i++) await ask()
    const one: number[] = []
    for (let i = 0; i < options.sequential; i++) one.push(await ask())
    options.log(`ask overhead, one at a time: p50 ${quantile(one, 0.5).toFixed(3)} ms over ${one.length} asks`)
    const many: number[] = []
    for (let round = 0; round < options.concurrentRounds; round++) {
      many.push(...await Promise.all(Array.from({ length: options.concurrency }, ask)))
    }
    options.log(`ask overhead, ${options.concurrency} at once: p50 ${quantile(many, 0.5).toFixed(3)} ms over ${many.length} asks`)
    return {
      one: { p50_ms: quantile(one, 0.5), p99_ms: quantile(one, 0.99), samples: one.length },
      concurrent: { p50_ms: quantile(many, 0.5), p99_ms: quantile(many, 0.99), samples: many.length }
    }
  } finally {
    responder.close()
    await pair.close()
  }
}
