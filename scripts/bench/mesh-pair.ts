/** A parent and a child node process on loopback, each with an embedded bus, and a probe on each bus. */
import { BusProbe } from '../../support/bus-probe.ts'
import { Homes, NodeProcess, runCli } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'
import type { NodeConfig } from '../../src/node/index.ts'

export interface MeshPair {
  parent: NodeProcess
  child: NodeProcess
  parentBus: BusProbe
  childBus: BusProbe
  parentBusUrl: string
  /** lets the child send this many frames a second to the parent */
  allowRate: (framesPerSecond: number) => Promise<void>
  close: () => Promise<void>
}

export async function startMeshPair (config: { parent?: Partial<NodeConfig>, child?: Partial<NodeConfig> } = {}): Promise<MeshPair> {
  const homes = new Homes()
  // default heartbeats, as a house runs them; the safety net off, so only the asks measured here happen
  const parent = await new NodeProcess({ home: await homes.make('mm-bench-parent-'), name: 'brain', bus: 'embedded:0', heartbeatMs: 5_000, config: { safetyNetMs: 0, ...config.parent } }).start()
  const child = await new NodeProcess({ home: await homes.make('mm-bench-child-'), name: 'kitchen', bus: 'embedded:0', heartbeatMs: 5_000, parent: await parent.addr(), config: { safetyNetMs: 0, ...config.child } }).start()
  await waitFor('the child to link', async () => (await child.status()).parent.state === 'linked')
  const parentBusUrl = (await parent.status()).bus.url ?? ''
  const parentBus = await BusProbe.connect(parentBusUrl)
  const childBus = await BusProbe.connect((await child.status()).bus.url ?? '')
  return {
    parent,
    child,
    parentBus,
    childBus,
    parentBusUrl,
    allowRate: async framesPerSecond => {
      const result = await runCli(['allow', '--home', parent.home, 'kitchen', '--rate', String(framesPerSecond)])
      if (result.code !== 0) throw new Error(`allow --rate failed: ${result.stderr}`)
    },
    close: async () => {
      await Promise.all([parentBus.close(), childBus.close()])
      await Promise.all([child.stop(), parent.stop()])
      await homes.cleanup()
    }
  }
}
