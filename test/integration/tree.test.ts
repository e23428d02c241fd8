import { afterEach, describe, expect, it } from 'vitest'
import { Homes, NodeProcess, runCli } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'
import type { NodeStatus } from '../../src/node/index.ts'

const muxerSets: Array<{ label: string, muxers: Array<'yamux' | 'mplex'> }> = [
  { label: 'yamux then mplex (default)', muxers: [] },
  { label: 'mplex only', muxers: ['mplex'] },
  { label: 'yamux only', muxers: ['yamux'] }
]

describe.each(muxerSets)('a root ← hub ← kitchen tree over $label', ({ muxers }) => {
  const homes = new Homes()
  const nodes: NodeProcess[] = []

  async function startNode (name: string, parent?: string, listen?: string, home?: string): Promise<NodeProcess> {
    const node = new NodeProcess({ home: home ?? await homes.make(`mm-${name}-`), name, parent, listen, muxers })
    nodes.push(node)
    return node.start()
  }

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async node => node.kill()))
    await homes.cleanup()
  })

  it('links up, and each status shows its parent and children', async () => {
    const root = await startNode('root')
    const hub = await startNode('hub', await root.addr())
    const kitchen = await startNode('kitchen', await hub.addr())

    const linked = (status: NodeStatus): boolean => status.parent.state === 'linked'
    await waitFor('hub and kitchen to link', async () => linked(await hub.status()) && linked(await kitchen.status()))

    const [rootStatus, hubStatus, kitchenStatus] = await Promise.all([root.status(), hub.status(), kitchen.status()])
    expect(rootStatus.parent.state).toBe('none')
    expect(rootStatus.children.map(child => [child.name, child.peerId])).toEqual([['hub', hubStatus.peerId]])
    expect(hubStatus.parent).toMatchObject({ state: 'linked', peerId: rootStatus.peerId, name: 'root' })
    expect(hubStatus.children.map(child => [child.name, child.peerId])).toEqual([['kitchen', kitchenStatus.peerId]])
    expect(kitchenStatus.parent).toMatchObject({ state: 'linked', peerId: hubStatus.peerId, name: 'hub' })
    expect(kitchenStatus.children).toEqual([])

    // the same picture through the CLI a user runs
    const cli = await runCli(['status', '--home', hub.home, '--json'])
    expect(cli.code).toBe(0)
    const fromCli = JSON.parse(cli.stdout) as NodeStatus
    expect(fromCli).toMatchObject({ peerId: hubStatus.peerId, name: 'hub', parent: { state: 'linked', peerId: rootStatus.peerId } })
    expect(fromCli.children.map(child => child.name)).toEqual(['kitchen'])
    const text = await runCli(['status', '--home', hub.home])
    expect(text.stdout).toMatch(/parent\s+linked to root/)
    expect(text.stdout).toMatch(/children\s+1\n\s+kitchen/)
  })

  it('re-links within 5 s after the parent is killed and started again on the same home and port', async () => {
    const hub = await startNode('hub')
    const hubAddr = await hub.addr()
    const kitchen = await startNode('kitchen', hubAddr)
    await waitFor('kitchen to link', async () => (await kitchen.status()).parent.state === 'linked')

    await hub.kill()
    const between = await waitFor('kitchen to notice', async () => {
      const status = await kitchen.status()
      return status.parent.state === 'connecting' ? status : undefined
    })
    expect(between.parent.peerId).toBe((await kitchen.status()).parent.peerId)
    await waitFor('a failed re-link attempt', async () => (await kitchen.status()).parent.attempts > 0)

    const listen = hubAddr.replace(/\/p2p\/.*$/, '')
    const restarted = await startNode('hub', undefined, listen, hub.home)
    const reachableAt = Date.now()
    await waitFor('kitchen to re-link', async () => (await kitchen.status()).parent.state === 'linked', { timeoutMs: 5_000 })
    expect(Date.now() - reachableAt).toBeLessThan(5_000)
    expect((await restarted.status()).children.map(child => child.name)).toEqual(['kitchen'])
  })
})
