/**
 * The house on a real LAN: every device is a network namespace of its own, on a bridge the test makes, so mDNS
 * crosses real interfaces between hosts. Needs root and iproute2 (CI runs as root); says so loudly otherwise.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Homes, NodeProcess, runCli } from '../../support/node-process.ts'
import { Lan, lanUnavailable, type Device } from '../../support/netns.ts'
import { waitFor } from '../../support/wait.ts'

const unavailable = lanUnavailable()
if (unavailable !== undefined) {
  // eslint-disable-next-line no-console
  console.warn(`SKIPPING the house (mDNS) tests: ${unavailable}`)
}

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
    const node = new NodeProcess({ home: home ?? await homes.make(`mm-${name}-`), name, netns: on.ns, listen: LISTEN, open: false, extraArgs: ['--house-key', key, ...extraArgs] })
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
  let hall: NodeProcess
  let kitchen: NodeProcess

  it('a room with the house key and no address links to the hub it finds on the LAN, and the hub knows it as a room', async () => {
    hallDevice = lan.device()
    hall = await device('hall', hallDevice, houseKey, ['--hub'])
    const kitchenDevice = lan.device()
    const startedAt = Date.now()
    kitchen = await device('kitchen', kitchenDevice, houseKey)
    await waitFor('the kitchen to link to the hall', async () => (await kitchen.status()).parent.state === 'linked', { timeoutMs: 10_000, intervalMs: 20 })
    process.stderr.write(`house: the kitchen found the hub and linked ${Date.now() - startedAt} ms after it was started\n`)

    const status = await kitchen.status()
    expect(status.parent).toMatchObject({ name: 'hall', peerId: (await hall.status()).peerId })
    expect(status.parent.addr).toContain(`/ip4/${hallDevice.ip}/tcp/4773`)
    const peers = JSON.parse((await runCli(['peers', '--home', hall.home, '--json'])).stdout) as Array<{ name: string, role: string, state: string }>
    expect(peers).toEqual([expect.objectContaining({ name: 'kitchen', role: 'room', state: 'linked' })])
  })

  it('a node of another house on the same LAN never sees this house\'s hub, nor it', async () => {
    const jonesHub = await device('jones-hall', lan.device(), otherHouseKey, ['--hub'])
    const jonesRoom = await device('jones-attic', lan.device(), otherHouseKey)
    await waitFor('the Jones attic to link to its own hub', async () => (await jonesRoom.status()).parent.state === 'linked', { timeoutMs: 10_000 })
    expect((await jonesRoom.status()).parent.peerId).toBe((await jonesHub.status()).peerId)
    expect((await hall.status()).children.map(child => child.name)).toEqual(['kitchen'])
    expect((await jonesHub.status()).children.map(child => child.name)).toEqual(['jones-attic'])
  })

  it('the hub comes back on another address: the room finds it again by mDNS and re-links', async () => {
    const hallId = (await hall.status()).peerId
    await hall.kill()
    await waitFor('the kitchen to notice', async () => (await kitchen.status()).parent.state === 'connecting')
    lan.readdress(hallDevice, 200)
    hall = await device('hall', hallDevice, houseKey, ['--hub'], hall.home)
    await waitFor('the kitchen to re-link to the hall at its new address', async () => {
      const parent = (await kitchen.status()).parent
      return parent.state === 'linked' && parent.addr?.includes(`/ip4/${hallDevice.ip}/`) === true
    }, { timeoutMs: 15_000 })
    expect((await kitchen.status()).parent.peerId).toBe(hallId)
  })
})
