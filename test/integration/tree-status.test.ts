import { afterEach, describe, expect, it } from 'vitest'
import { runCli } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'
import { Rooms } from '../helpers/rooms.ts'
import type { MeshTree } from '../../src/node/index.ts'

/** `status --tree`: the tree as a node knows it, drawn in the terminal and given as data. */

const rooms = new Rooms()
afterEach(async () => { await rooms.cleanup() })

const treeOf = async (home: string): Promise<MeshTree> => JSON.parse((await runCli(['status', '--tree', '--json', '--home', home])).stdout) as MeshTree

describe('status --tree', () => {
  it('draws a 3-level tree with each node\'s state and the round-trip times of the links it holds', async () => {
    const brain = await rooms.room('brain')
    const hub = await rooms.room('hub', { parent: brain })
    await rooms.room('kitchen', { parent: hub })
    await waitFor('the kitchen in the brain\'s tree', async () => (await treeOf(brain.node.home)).node.children[0]?.children[0]?.name === 'kitchen')
    // a link's round trip is measured by its child end's pings, and its parent end hears it with the next one
    await waitFor('the round trips of both links measured at both ends', async () => {
      const [fromBrain, fromHub] = await Promise.all([treeOf(brain.node.home), treeOf(hub.node.home)])
      return fromBrain.node.children[0]?.rttMs != null && fromHub.parent?.rttMs != null && fromHub.node.children[0]?.rttMs != null
    })

    const drawn = await runCli(['status', '--tree', '--home', brain.node.home])
    expect(drawn.code).toBe(0)
    const lines = drawn.stdout.trimEnd().split('\n')
    expect(lines[0]).toBe('brain  (this node)')
    expect(lines[1]).toMatch(/^└── hub {2}linked {2}[\d.]+ ms$/)
    expect(lines[2]).toBe('    └── kitchen  linked')
    // no colours when the output is not a terminal
    expect(drawn.stdout).not.toContain('\x1b[')

    const fromHub = await runCli(['status', '--tree', '--home', hub.node.home])
    expect(fromHub.stdout.split('\n').slice(0, 3)).toEqual([
      expect.stringMatching(/^brain {2}linked {2}[\d.]+ ms {2}\(parent\)$/),
      '└── hub  (this node)',
      expect.stringMatching(/^ {4}└── kitchen {2}linked {2}[\d.]+ ms$/)
    ])
    const tree = await treeOf(hub.node.home)
    expect(tree.parent).toMatchObject({ name: 'brain', state: 'linked' })
    expect(tree.node).toMatchObject({ name: 'hub', state: 'self', children: [{ name: 'kitchen', state: 'linked', children: [] }] })
  }, 60_000)
})
