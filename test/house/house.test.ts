/**
 * The house on a real LAN: every device is a network namespace of its own, on a bridge the test makes, so mDNS
 * crosses real interfaces between hosts. Needs root and iproute2 (CI runs as root); says so loudly otherwise.
 */
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { Homes, NodeProcess, runCli } from '../../support/node-process.ts'
import { Lan, lanSkip, type Device } from '../../support/netns.ts'
import { waitFor } from '../../support/wait.ts'
import { hubTag } from '../../src/house/index.ts'

const FORGER = fileURLToPath(new URL('../../support/mdns-forger.ts', import.meta.url))

const unavailable = lanSkip('the house (mDNS) tests')

const LISTEN = '/ip4/0.0.0.0/tcp/4773'

describe.skipIf(unavailable !== undefined)('a house on a LAN of namespaces', () => {
  const homes = new Homes()
  const nodes: NodeProcess[] = []
  let lan: Lan
  let houseKey: string
  let otherHouseKey: string

  async function keyFile (name: string): Promise<string> {
    const made = await runCli(['house-key'])
    expect(made.code, made.stderr).toBe(0)
    const path = join(await homes.make(`mm-key-${name}-`), 'house.key')
    await writeFile(path, made.stdout)
    return path
  }

  async function device (name: string, on: Device, key: string, extraArgs: string[] = [], home?: string): Promise<NodeProcess> {
    const node = new NodeProcess({ home: home ?? await homes.make(`mm-${name}-`), name, netns: on.ns, listen: LISTEN, open: false, config: { mdns: true }, extraArgs: ['--house-key', key, ...extraArgs] })
    nodes.push(node)
    return node.start()
  }

  beforeAll(async () => {
    lan = new Lan()
    houseKey = await keyFile('smith')
    otherHouseKey = await keyFile('jones')
  })

  afterAll(async () => {
    await Promise.all(nodes.map(async node => node.kill()))
    lan?.remove()
    await homes.cleanup()
  })

  let hallDevice: Device
  let brain: NodeProcess
  let hall: NodeProcess
  let kitchen: NodeProcess
  let livingRoom: NodeProcess
  let mirror: NodeProcess
  let porch: NodeProcess
  let porchDevice: Device
  const hallArgs = (): string[] => ['--hub', '--parent', brainAddr, '--bus', 'embedded:0']
  let brainAddr = ''

  it('a room with the house key and no address links to the hub it finds on the LAN, and the hub knows it as a room', async () => {
    // the brain above the house: the big machine the hub links to, not a room of the house, not on mDNS, and
    // holding no house key (it could serve several houses)
    const brainDevice = lan.device()
    brain = new NodeProcess({ home: await homes.make('mm-brain-'), name: 'brain', netns: brainDevice.ns, listen: LISTEN, bus: 'embedded:0' })
    nodes.push(brain)
    await brain.start()
    brainAddr = `/ip4/${brainDevice.ip}/tcp/4773/p2p/${(await brain.status()).peerId}`
    hallDevice = lan.device()
    hall = await device('hall', hallDevice, houseKey, hallArgs())
    const kitchenDevice = lan.device()
    const startedAt = Date.now()
    kitchen = await device('kitchen', kitchenDevice, houseKey, ['--bus', 'embedded:0'])
    await waitFor('the kitchen to link to the hall', async () => (await kitchen.status()).parent.state === 'linked', { timeoutMs: 10_000, intervalMs: 20 })
    process.stderr.write(`house: the kitchen found the hub and linked ${Date.now() - startedAt} ms after it was started\n`)

    // it said what it was doing while the user waited
    await kitchen.waitForLog('the kitchen looking', line => line.msg === 'looking for the house\'s hub on the LAN (mDNS) …')
    await kitchen.waitForLog('the kitchen finding', line => line.msg === `found the house's hub at ${hallDevice.ip}; linking to it`)
    const status = await kitchen.status()
    expect(status.parent).toMatchObject({ name: 'hall', peerId: (await hall.status()).peerId })
    expect(status.parent.addr).toContain(`/ip4/${hallDevice.ip}/tcp/4773`)
    const peers = JSON.parse((await runCli(['peers', '--home', hall.home, '--json'])).stdout) as Array<{ name: string, role: string, state: string }>
    expect(peers).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'kitchen', role: 'room', state: 'linked' })]))
  })

  it('the directory: from any room, `rooms` lists every room of the house and where it hangs, and nothing above the hub', async () => {
    livingRoom = await device('living room', lan.device(), houseKey, ['--bus', 'embedded:0'])
    mirror = await device('mirror', lan.device(), houseKey, ['--bus', 'embedded:0'])
    await waitFor('every room to link', async () => (await Promise.all([livingRoom, mirror].map(async room => (await room.status()).parent.state))).every(state => state === 'linked'), { timeoutMs: 10_000 })
    await waitFor('the directory to reach the mirror', async () => {
      const listed = await runCli(['rooms', '--home', mirror.home, '--json'])
      return listed.code === 0 && (JSON.parse(listed.stdout) as unknown[]).length === 4
    })
    const rooms = JSON.parse((await runCli(['rooms', '--home', mirror.home, '--json'])).stdout) as Array<{ name: string, parent: string, state: string }>
    expect(rooms.map(room => [room.name, room.state, room.parent]).sort()).toEqual([['hall', 'linked', ''], ['kitchen', 'linked', 'hall'], ['living room', 'linked', 'hall'], ['mirror', 'linked', 'hall']])
    const table = await runCli(['rooms', '--home', kitchen.home])
    expect(table.stdout).toMatch(/living room\s+linked\s+hall/)
  })

  it('a room name is unique in the house: a second kitchen is refused, told who holds the name', async () => {
    const impostor = await device('kitchen', lan.device(), houseKey)
    await waitFor('the second kitchen to be refused', async () => /refused: the house already has a room named 'kitchen'/.test((await impostor.status()).parent.lastError ?? ''), { timeoutMs: 10_000 })
    expect((await impostor.status()).parent.lastError).toContain((await kitchen.status()).peerId)
    await impostor.kill()
  })

  it('send: the living room tells the kitchen something; only the kitchen speaks it, naming who sent it', async () => {
    const sent = await runCli(['send', '--home', livingRoom.home, '--to', 'kitchen', 'Dinner is ready'])
    expect(sent.code, sent.stderr).toBe(0)
    expect(sent.stdout).toBe('delivered to kitchen\n')
    const heard = await kitchen.waitForLog('the kitchen to speak it', line => line.msg === 'living room sent this room a speak')
    expect(heard.from).toBe('living room')
    expect((await kitchen.status()).relay).toMatchObject({ delivered: 1 })
    for (const other of [hall, mirror, livingRoom]) expect((await other.status()).relay).toMatchObject({ delivered: 0 })

    const nowhere = await runCli(['send', '--home', livingRoom.home, '--to', 'garage', 'hello'])
    expect(nowhere.code).toBe(1)
    expect(nowhere.stderr).toContain("not delivered to garage: no-such-room (this house has no room named 'garage' linked now")
  })

  it('announce: every other room of the house speaks it once; the room that announced and the brain above do not', async () => {
    const announced = await runCli(['announce', '--home', kitchen.home, 'Leaving in five minutes'])
    expect(announced.code, announced.stderr).toBe(0)
    for (const room of [hall, livingRoom, mirror]) {
      await room.waitForLog(`${room.options.name} to speak the announcement`, line => line.msg === 'kitchen announced something to the house')
    }
    expect((await kitchen.status()).broadcast).toMatchObject({ announced: 1, spoken: 0 })
    for (const room of [hall, livingRoom, mirror]) expect((await room.status()).broadcast).toMatchObject({ spoken: 1 })
    expect((await brain.status()).broadcast).toMatchObject({ spoken: 0 })
  })

  it('a node of another house on the same LAN never sees this house\'s hub, nor it', async () => {
    const jonesHub = await device('jones-hall', lan.device(), otherHouseKey, ['--hub'])
    const jonesRoom = await device('jones-attic', lan.device(), otherHouseKey)
    await waitFor('the Jones attic to link to its own hub', async () => (await jonesRoom.status()).parent.state === 'linked', { timeoutMs: 10_000 })
    expect((await jonesRoom.status()).parent.peerId).toBe((await jonesHub.status()).peerId)
    expect((await hall.status()).children.map(child => child.name).sort()).toEqual(['kitchen', 'living room', 'mirror'])
    expect((await jonesHub.status()).children.map(child => child.name)).toEqual(['jones-attic'])
  })

  it('the hub comes back on another address: the room finds it again by mDNS and re-links', async () => {
    const hallId = (await hall.status()).peerId
    await hall.kill()
    await waitFor('the kitchen to notice', async () => (await kitchen.status()).parent.state === 'connecting')
    lan.readdress(hallDevice, 200)
    hall = await device('hall', hallDevice, houseKey, hallArgs(), hall.home)
    await waitFor('the kitchen to re-link to the hall at its new address', async () => {
      const parent = (await kitchen.status()).parent
      return parent.state === 'linked' && parent.addr?.includes(`/ip4/${hallDevice.ip}/`) === true
    }, { timeoutMs: 15_000 })
    expect((await kitchen.status()).parent.peerId).toBe(hallId)
  })

  it('one hub per house: a second --hub that sees the first says so, and the one with the higher peer id yields', async () => {
    porchDevice = lan.device()
    const second = await device('porch', porchDevice, houseKey, ['--hub', '--bus', 'embedded:0'])
    porch = second
    const [hallId, porchId] = [(await hall.status()).peerId, (await second.status()).peerId]
    const [stays, yields] = hallId < porchId ? [hall, second] : [second, hall]
    // the one that yields says so, whichever started first (the one that stays may not even hear the other before
    // it goes quiet, so what it says is not waited for)
    await yields.waitForLog('the higher peer id to yield', line => /^another hub already serves this house/.test(line.msg))
    expect(stays.logs.some(line => /^another hub already serves this house/.test(line.msg))).toBe(false)
    if (yields === second) {
      await waitFor('the porch to link to the hall as a room', async () => (await second.status()).parent.peerId === hallId, { timeoutMs: 10_000 })
    }
  })

  it('a forged mDNS answer pointing at a node without the key does not keep a new room from the real hub', async () => {
    // the stranger holds no house key: it can answer on mDNS (the tag is public), and even welcome the room (it is
    // open), but it cannot prove it holds the key, so the room does not take it as its hub
    const strangerDevice = lan.device()
    const stranger = new NodeProcess({ home: await homes.make('mm-stranger-'), name: 'stranger', netns: strangerDevice.ns, listen: LISTEN })
    nodes.push(stranger)
    await stranger.start()
    const forged = `/ip4/${strangerDevice.ip}/tcp/4773/p2p/${(await stranger.status()).peerId}`
    const forger = spawn('ip', ['netns', 'exec', strangerDevice.ns, process.execPath, FORGER, hubTag(await readFile(houseKey)), forged], { stdio: ['ignore', 'pipe', 'pipe'] })
    // the hub of the house is away while the new room first looks: the forged answer is the only one it gets
    const [hallId, porchId] = [(await hall.status()).peerId, (await porch.status()).peerId]
    const hub = hallId < porchId ? hall : porch
    const hubArgs = hub === hall ? hallArgs() : ['--hub', '--bus', 'embedded:0']
    const hubDevice = hub === hall ? hallDevice : porchDevice
    await hub.kill()
    try {
      const attic = await device('attic', lan.device(), houseKey, ['--bus', 'embedded:0'])
      onTestFailed(() => { process.stderr.write(`the attic's log:\n${attic.logs.map(line => `  ${line.msg}`).join('\n')}\n`) })
      const failed = await attic.waitForLog('the attic to try the forged hub and fail', line => /^parent .* unreachable/.test(line.msg) && String(line.msg).includes(strangerDevice.ip), 15_000)
      expect(failed.msg).toMatch(/does not prove it holds this house's key: not this house's hub/)
      const back = await device(hub.options.name, hubDevice, houseKey, hubArgs, hub.home)
      await waitFor('the attic to link to the real hub once it is back', async () => (await attic.status()).parent.state === 'linked', { timeoutMs: 20_000 })
      expect((await attic.status()).parent.peerId).toBe((await back.status()).peerId)
      await waitFor('the stranger to hold no room', async () => (await stranger.status()).children.length === 0)
      expect((await attic.status()).parent.lastError ?? '').toBe('')
    } finally {
      forger.kill()
    }
  })
})
