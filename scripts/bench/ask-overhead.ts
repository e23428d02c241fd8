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

export async function benchAskOverhead (options: { sequential: number, concurrency: number, concurrentRounds: number, log: (line: string) => void }): Promise<{ one: AskOverhead, concurrent: AskOverhead }> {
  const pair = await startMeshPair({ parent: { maxAsksInFlightPerChild: options.concurrency * 2, logLevel: 'warn' }, child: { logLevel: 'warn' } })
  // a house child may send 50 frames a second; this one asks as fast as it can
  await pair.allowRate(100_000)
  const { ask, close } = await timedAsker(pair)

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
    close()
    await pair.close()
  }
}
