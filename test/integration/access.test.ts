import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { BusProbe } from '../../support/bus-probe.ts'
import { Homes, NodeProcess, runCli } from '../../support/node-process.ts'
import { freePort } from '../../support/ports.ts'
import { waitFor } from '../../support/wait.ts'
import type { PeerListing } from '../../src/node/index.ts'

const homes = new Homes()
const nodes: NodeProcess[] = []
const probes: BusProbe[] = []

afterEach(async () => {
  await Promise.all(probes.splice(0).map(async probe => probe.close()))
  await Promise.all(nodes.splice(0).map(async node => node.kill()))
  await homes.cleanup()
})

async function node (name: string, options: Partial<ConstructorParameters<typeof NodeProcess>[0]> = {}): Promise<NodeProcess> {
  const made = new NodeProcess({ home: await homes.make(`mm-${name}-`), name, open: false, ...options })
  nodes.push(made)
  return made.start()
}

async function invite (parent: NodeProcess, name: string, ...args: string[]): Promise<string> {
  const result = await runCli(['invite', '--home', parent.home, '--name', name, ...args])
  expect(result.code, result.stderr).toBe(0)
  const token = result.stdout.trim().split('\n').at(-1) ?? ''
  expect(token).toMatch(/^mmi1_/)
  return token
}

async function peers (of: NodeProcess): Promise<PeerListing[]> {
  const result = await runCli(['peers', '--home', of.home, '--json'])
  expect(result.code, result.stderr).toBe(0)
  return JSON.parse(result.stdout) as PeerListing[]
}

const linked = async (child: NodeProcess): Promise<boolean> => (await child.status()).parent.state === 'linked'
const refusedWith = (pattern: RegExp) => async (child: NodeProcess): Promise<boolean> => pattern.test((await child.status()).parent.lastError ?? '')

/** Starts a node that must refuse to run: resolves with its exit code and what it said. */
async function startExpectingExit (home: string, args: string[]): Promise<{ code: number | null, stderr: string }> {
  const result = await runCli(['start', '--home', home, '--listen', '/ip4/127.0.0.1/tcp/0', '--bus', 'none', '--json-logs', ...args])
  return { code: result.code, stderr: result.stderr }
}

describe('joining by invite', () => {
  it('an invited child links, is known by its peer id and the invite\'s name, and re-links later with a plain start', async () => {
    const parent = await node('brain')
    const token = await invite(parent, 'kitchen')
    const childHome = await homes.make('mm-kitchen-')
    const child = new NodeProcess({ home: childHome, name: 'kitchen', open: false, extraArgs: ['--join', token] })
    nodes.push(child)
    await child.start()
    await waitFor('the child to join', async () => linked(child))

    const childId = (await child.status()).peerId
    expect(await peers(parent)).toEqual([expect.objectContaining({ peerId: childId, name: 'kitchen', role: 'child', state: 'linked' })])
    const saved = JSON.parse(await readFile(join(childHome, 'config.json'), 'utf8')) as { parent: string }
    expect(saved.parent).toBe(`${(await parent.status()).addrs[0] ?? ''}`)

    await child.stop()
    const again = new NodeProcess({ home: childHome, name: 'kitchen', open: false })
    nodes.push(again)
    await again.start()
    await waitFor('a plain start to re-link', async () => linked(again))
  })

  it('joining saves the name the invite gave, the listen address and the bus: a plain start comes back as the same node', async () => {
    const parent = await node('brain')
    const token = await invite(parent, 'pantry')
    const childHome = await homes.make('mm-pantry-')
    const listen = `/ip4/127.0.0.1/tcp/${await freePort()}`
    const joined = new NodeProcess({ home: childHome, name: 'pantry', plain: true, extraArgs: ['--join', token, '--listen', listen, '--bus', 'none'] })
    nodes.push(joined)
    await joined.start()
    await waitFor('the pantry to join', async () => linked(joined))
    const before = await joined.status()
    expect(before.name).toBe('pantry')
    await joined.stop()

    const plain = new NodeProcess({ home: childHome, name: 'pantry', plain: true })
    nodes.push(plain)
    await plain.start()
    await waitFor(`a plain start to re-link (its log: ${plain.stderr.slice(-800)})`, async () => linked(plain), { timeoutMs: 20_000 })
    const after = await plain.status()
    expect(after).toMatchObject({ peerId: before.peerId, name: 'pantry', addrs: before.addrs, bus: { mode: 'none' } })
    expect(after.addrs[0]).toContain(listen)
    expect((await parent.status()).children.map(child => child.name)).toEqual(['pantry'])
  })

  it('an uninvited peer is refused and told how to get in; an invited one beside it is not', async () => {
    const parent = await node('brain')
    const stranger = await node('stranger', { parent: await parent.addr() })
    const invited = await node('invited', { extraArgs: ['--join', await invite(parent, 'invited')] })

    await waitFor('the invited child to link', async () => linked(invited))
    await waitFor('the stranger to be refused', async () => refusedWith(/does not know you.*mycroft-mesh invite/)(stranger))
    const status = await parent.status()
    expect(status.children.map(child => child.name)).toEqual(['invited'])
    expect(status.access.refusedLinks).toMatchObject({ uninvited: 1 })
    expect(parent.logs.some(line => line.level === 40 && /refused a link from .*does not know you/.test(line.msg))).toBe(true)
  })

  it('a used, an expired and a forged invite are each refused, saying which, and the node exits non-zero', async () => {
    const parent = await node('brain')
    const token = await invite(parent, 'kitchen')
    const first = await node('kitchen', { extraArgs: ['--join', token] })
    await waitFor('the first use', async () => linked(first))

    const replay = await startExpectingExit(await homes.make('mm-replay-'), ['--join', token])
    expect(replay.code).toBe(1)
    expect(replay.stderr).toMatch(/already used/)

    const shortLived = await invite(parent, 'pantry', '--ttl', '1s')
    const expiresAt = JSON.parse(Buffer.from(shortLived.slice(5), 'base64url').toString()) as { expiresAt: string }
    await waitFor('the invite to expire', () => Date.now() > Date.parse(expiresAt.expiresAt) + 50, { timeoutMs: 5_000 })
    const expired = await startExpectingExit(await homes.make('mm-expired-'), ['--join', shortLived])
    expect(expired.code).toBe(1)
    expect(expired.stderr).toMatch(/expired/)

    const fresh = JSON.parse(Buffer.from((await invite(parent, 'attic')).slice(5), 'base64url').toString()) as Record<string, unknown>
    const forgedToken = `mmi1_${Buffer.from(JSON.stringify({ ...fresh, secret: 'A'.repeat(43) })).toString('base64url')}`
    const forged = await startExpectingExit(await homes.make('mm-forged-'), ['--join', forgedToken])
    expect(forged.code).toBe(1)
    expect(forged.stderr).toMatch(/unknown here \(forged/)

    const garbage = await startExpectingExit(await homes.make('mm-garbage-'), ['--join', 'not-a-token'])
    expect(garbage.code).toBe(2)
    expect(garbage.stderr).toMatch(/not a mycroft-mesh invite token/)

    expect((await parent.status()).access.refusedLinks).toMatchObject({ 'invite-used': 1, 'invite-expired': 1, 'invite-unknown': 1 })
    expect((await parent.status()).children.map(child => child.name)).toEqual(['kitchen'])
  })

  it('a name that belongs to a peer cannot be invited again, nor claimed by another peer in open mode', async () => {
    const parent = await node('brain')
    const kitchen = await node('kitchen', { extraArgs: ['--join', await invite(parent, 'kitchen')] })
    // the name belongs to the kitchen once its join is taken, not when its process listens
    await waitFor('the kitchen to join', async () => linked(kitchen))
    const again = await runCli(['invite', '--home', parent.home, '--name', 'kitchen'])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/already belongs to/)

    const lab = await node('lab', { open: true })
    const first = await node('kitchen', { parent: await lab.addr() })
    await waitFor('the first kitchen to link', async () => linked(first))
    const impostor = await node('kitchen', { parent: await lab.addr() })
    await waitFor('the impostor to be refused', async () => refusedWith(/belongs to another peer/)(impostor))
    expect((await lab.status()).children).toHaveLength(1)
  })
})

describe('revoking', () => {
  it('a revoked child loses its link within 2 s and cannot link again', async () => {
    const parent = await node('brain')
    const child = await node('kitchen', { extraArgs: ['--join', await invite(parent, 'kitchen')] })
    await waitFor('the child to link', async () => linked(child))

    const revokedAt = Date.now()
    const result = await runCli(['revoke', '--home', parent.home, 'kitchen'])
    expect(result.code, result.stderr).toBe(0)
    await waitFor('the child to lose its link', async () => !await linked(child), { timeoutMs: 2_000 })
    expect(Date.now() - revokedAt).toBeLessThan(2_000)

    await waitFor('the re-link to be refused', async () => refusedWith(/revoked you/)(child))
    expect((await parent.status()).children).toEqual([])
    expect(await peers(parent)).toEqual([expect.objectContaining({ name: 'kitchen', state: 'revoked' })])
  })
})

describe('what a peer may say', () => {
  it('a message type the child has not allowed its parent is dropped and counted; after `allow` it is delivered', async () => {
    const parent = await node('brain', { bus: 'embedded:0', config: { deliveredTypes: ['speak', 'mycroft.volume.set'] } })
    const child = await node('kitchen', { bus: 'embedded:0', extraArgs: ['--join', await invite(parent, 'kitchen')] })
    await waitFor('the child to link', async () => linked(child))
    const parentBus = await BusProbe.connect((await parent.status()).bus.url ?? '')
    const childBus = await BusProbe.connect((await child.status()).bus.url ?? '')
    probes.push(parentBus, childBus)

    const volume = { type: 'mycroft.volume.set', data: { percent: 0.2 }, context: { destination: 'kitchen' } }
    parentBus.emit(volume)
    await waitFor('the child to refuse it', async () => (await child.status()).access.violations === 1)
    expect(child.logs.some(line => /may not send 'mycroft.volume.set'/.test(line.msg))).toBe(true)

    const allowed = await runCli(['allow', '--home', child.home, 'brain', 'mycroft.volume.set'])
    expect(allowed.code, allowed.stderr).toBe(0)
    parentBus.emit(volume)
    const delivered = await childBus.waitFor('the allowed message', message => message.type === 'mycroft.volume.set')
    expect(delivered.data).toEqual({ percent: 0.2 })
    // the first, refused one never reached the child's bus
    expect(childBus.of('mycroft.volume.set')).toHaveLength(1)

    const denied = await runCli(['deny', '--home', child.home, 'brain', 'speak'])
    expect(denied.code, denied.stderr).toBe(0)
    expect((await peers(child))[0]?.permissions.busTypes).toEqual(['mycroft.volume.set'])
  })
})

describe('addresses', () => {
  it('a blocked address is refused before any handshake and dropped at once; unblocked, it links again', async () => {
    const parent = await node('brain')
    const child = await node('kitchen', { extraArgs: ['--join', await invite(parent, 'kitchen')] })
    await waitFor('the child to link', async () => linked(child))

    const blocked = await runCli(['block-ip', '--home', parent.home, '127.0.0.0/8'])
    expect(blocked.code, blocked.stderr).toBe(0)
    expect(blocked.stdout).toMatch(/1 open connection\(s\) dropped/)
    await waitFor('the child to lose its link', async () => !await linked(child))
    await waitFor('a refused connection', async () => (await parent.status()).access.refusedConnections > 0)
    expect((await child.status()).parent.state).toBe('connecting')
    // what happened, as far as the child can tell: no word of house keys
    const lastError = await waitFor('the child to say why', async () => (await child.status()).parent.lastError ?? undefined)
    expect(lastError).not.toMatch(/house key/)

    const unblocked = await runCli(['unblock-ip', '--home', parent.home, '127.0.0.0/8'])
    expect(unblocked.code, unblocked.stderr).toBe(0)
    await waitFor('the child to link again', async () => linked(child), { timeoutMs: 10_000 })
  })
})

describe('the house key', () => {
  it('a node with the house key joins the hub as a room, no invite; one with another key is told so, one with none is a stranger', async () => {
    const keys = await homes.make('mm-keys-')
    const houseKey = join(keys, 'house.key')
    const otherKey = join(keys, 'other.key')
    for (const path of [houseKey, otherKey]) {
      const made = await runCli(['house-key'])
      expect(made.code).toBe(0)
      expect(made.stdout).toMatch(/^mycroft-mesh house key 1\n[A-Za-z0-9_-]{43}\n$/)
      await writeFile(path, made.stdout)
    }

    const hub = await node('hub', { extraArgs: ['--house-key', houseKey, '--hub'] })
    const member = await node('kitchen', { parent: await hub.addr(), extraArgs: ['--house-key', houseKey] })
    const outsider = await node('outsider', { parent: await hub.addr(), extraArgs: ['--house-key', otherKey] })
    const keyless = await node('keyless', { parent: await hub.addr() })

    await waitFor('the member to link', async () => linked(member))
    await waitFor('the outsider to be refused', refusedWith(/your house key is not this house's: every node of the house needs the very same --house-key file/).bind(null, outsider))
    await waitFor('the keyless node to be refused', refusedWith(/this node does not know you/).bind(null, keyless))
    const hubStatus = await hub.status()
    expect(hubStatus.children.map(child => child.name)).toEqual(['kitchen'])
    expect(hubStatus.access.houseKey).toBe(true)
    expect(hubStatus.access.refusedLinks['house-key']).toBeGreaterThanOrEqual(1)
    expect((await peers(hub)).find(peer => peer.name === 'kitchen')?.role).toBe('room')
    // the owner sees the outsider, once in the log however often it tries
    const said = hub.logs.filter(line => /your house key is not this house's/.test(line.msg))
    expect(said).toHaveLength(1)
  })

  it('a node outside the house links to the hub as any node does: a brain above it holds no house key', async () => {
    const keys = await homes.make('mm-keys-')
    const houseKey = join(keys, 'house.key')
    await writeFile(houseKey, (await runCli(['house-key'])).stdout)
    const brain = await node('brain')
    const hub = await node('hall', { extraArgs: ['--house-key', houseKey, '--hub', '--join', await invite(brain, 'hall')] })
    await waitFor('the hub to link to the brain', async () => linked(hub))
    const kitchen = await node('kitchen', { parent: await hub.addr(), extraArgs: ['--house-key', houseKey] })
    await waitFor('the kitchen to link to the hub', async () => linked(kitchen))
    expect((await brain.status()).children.map(child => child.name)).toEqual(['hall'])
  })
})
