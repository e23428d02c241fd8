/**
 * How long `mycroft-mesh status` takes against a running node, beside a bare `node -e ''` in the same run: the
 * commands that only talk to the control socket should not load the node itself.
 */
import { spawn } from 'node:child_process'
import { Homes, NodeProcess, runCli } from '../../support/node-process.ts'
import { quantile } from './stats.ts'

async function timed (run: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await run()
  return performance.now() - started
}

const bareNode = async (): Promise<void> => {
  await new Promise(resolve => spawn(process.execPath, ['-e', ''], { stdio: 'ignore' }).once('exit', resolve))
}

export async function benchCliStatus (runs: number): Promise<{ status_ms_p50: number, bare_node_ms_p50: number }> {
  const homes = new Homes()
  const node = new NodeProcess({ home: await homes.make('mm-bench-cli-'), name: 'bench' })
  try {
    await node.start()
    const status: number[] = []
    const bare: number[] = []
    for (let i = 0; i < runs; i++) {
      bare.push(await timed(bareNode))
      status.push(await timed(async () => {
        const result = await runCli(['status', '--home', node.home])
        if (result.code !== 0) throw new Error(`status failed: ${result.stderr}`)
      }))
    }
    return { status_ms_p50: quantile(status, 0.5), bare_node_ms_p50: quantile(bare, 0.5) }
  } finally {
    await node.stop()
    await homes.cleanup()
  }
}
