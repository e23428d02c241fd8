/**
 * What one hop of the ask flow costs: a question the child's assistant failed (`complete_intent_failure` on the
 * child's bus) → child node → parent node → the parent's bus, where an instant responder answers → back to a
 * `speak` on the child's bus. The responder's own time is taken out, so the figure is the mesh's alone: two
 * nodes, their buses, and the link between them.
 */
import { quantile } from './stats.ts'
import { startMeshPair } from './mesh-pair.ts'
import { timedAsker } from './timed-asker.ts'

export interface AskOverhead {
  p50_ms: number
  p99_ms: number
  samples: number
}

/** Asks before measuring: a node's code is compiled and optimised on first use, and a running node is past that. */
const WARM_UP_ASKS = 500

/**
 * `floor`: the bare round trips of the hops an ask rides, measured between its rounds (the figures are given as
 * ratios, each round's ask p50 over the floor measured beside it). The 100-at-once rounds alternate with the same
 * 100 questions put straight on the responder's own bus, no mesh.
 */
export async function benchAskOverhead (options: { sequential: number, concurrency: number, concurrentRounds: number, floor: () => Promise<number>, log: (line: string) => void }): Promise<{ one: AskOverhead, concurrent: AskOverhead, oneBus: AskOverhead, floorRatios: number[], floorMs: number[] }> {
  const pair = await startMeshPair({ parent: { maxAsksInFlightPerChild: options.concurrency * 2, logLevel: 'warn' }, child: { logLevel: 'warn' } })
  // a house child may send 50 frames a second; this one asks as fast as it can
  await pair.allowRate(100_000)
  const { ask, askOnOneBus, close } = await timedAsker(pair)

  try {
    for (let i = 0; i < WARM_UP_ASKS; i++) await ask()
    const one: number[] = []
    const floorRatios: number[] = []
    const floorMs: number[] = []
    const perRound = Math.ceil(options.sequential / options.concurrentRounds)
    for (let round = 0; round < options.concurrentRounds; round++) {
      const floor = await options.floor()
      const asked: number[] = []
      for (let i = 0; i < perRound; i++) asked.push(await ask())
      one.push(...asked)
      floorMs.push(floor)
      floorRatios.push(quantile(asked, 0.5) / floor)
    }
    options.log(`ask overhead, one at a time: p50 ${quantile(one, 0.5).toFixed(3)} ms over ${one.length} asks; floor per round ${floorMs.map(ms => ms.toFixed(3)).join(', ')} ms`)
    const many: number[] = []
    const oneBus: number[] = []
    for (let round = 0; round < options.concurrentRounds; round++) {
      many.push(...await Promise.all(Array.from({ length: options.concurrency }, ask)))
      oneBus.push(...await Promise.all(Array.from({ length: options.concurrency }, askOnOneBus)))
    }
    options.log(`ask overhead, ${options.concurrency} at once: p50 ${quantile(many, 0.5).toFixed(3)} ms over ${many.length} asks; on one bus, no mesh: p50 ${quantile(oneBus, 0.5).toFixed(3)} ms`)
    const figures = (samples: number[]): AskOverhead => ({ p50_ms: quantile(samples, 0.5), p99_ms: quantile(samples, 0.99), samples: samples.length })
    return { one: figures(one), concurrent: figures(many), oneBus: figures(oneBus), floorRatios, floorMs }
  } finally {
    close()
    await pair.close()
  }
}
