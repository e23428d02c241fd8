import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { EmbeddedBus } from '../../src/bus-bridge/index.ts'
import { BusProbe } from '../../support/bus-probe.ts'
import { NodeProcess, runCli } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'
import { Rooms, type Room } from '../helpers/rooms.ts'
import type { RoomMail } from '../../src/routing/index.ts'

/** Mail: a message for a room that is away waits at the node that knows the room, and reaches it once, in order. */

const rooms = new Rooms()
const probes: BusProbe[] = []
const restarted: NodeProcess[] = []
const buses: EmbeddedBus[] = []

afterEach(async () => {
  await Promise.all(probes.splice(0).map(async probe => probe.close()))
  await Promise.all(restarted.splice(0).map(async node => node.kill()))
  await Promise.all(buses.splice(0).map(async bus => bus.stop()))
  await rooms.cleanup()
})

/**
 * The same room (home, identity, name) started again under its parent, bridged to a bus that was there before it
 * (as a room's assistant is), with a probe already on that bus: nothing the room hears as it links is missed.
 */
async function comeBack (room: Room, parent: Room): Promise<{ node: NodeProcess, bus: BusProbe }> {
  const assistantBus = new EmbeddedBus({ port: 0, log: pino({ level: 'silent' }) })
  await assistantBus.start()
  buses.push(assistantBus)
  const bus = await BusProbe.connect(assistantBus.url)
  probes.push(bus)
  const node = new NodeProcess({ home: room.node.home, name: room.node.options.name, parent: await parent.node.addr(), bus: assistantBus.url })
  restarted.push(node)
  await node.start()
  return { node, bus }
}

const mailOf = async (node: NodeProcess): Promise<RoomMail[]> => JSON.parse((await runCli(['mail', '--home', node.home, '--json'])).stdout) as RoomMail[]

/** Sends `count` messages from `room`'s bus to `to` at once, through the bus API; resolves with their statuses. */
async function sendFromBus (room: Room, to: string, count: number): Promise<string[]> {
  const mark = room.bus.mark
  for (let i = 0; i < count; i++) room.bus.emit({ type: 'mesh.send', data: { to, type: 'speak', data: { utterance: `message ${i}` } }, context: { source: 'test-skill' } })
  const responses = await waitFor(`${count} responses`, () => {
    const got = room.bus.messages.slice(mark).filter(m => m.type === 'mesh.send.response')
    return got.length >= count ? got : undefined
  }, { timeoutMs: 30_000 })
  return responses.map(response => String(response.data.status))
}

const spokenOn = (bus: BusProbe): string[] => bus.messages.filter(m => m.type === 'speak').map(m => String(m.data.utterance))

describe('mail', () => {
  it('a message for a room that is away waits at the hub; when the room is back it gets all, in order, each once, and the sender is told', async () => {
    const hall = await rooms.room('hall', { extraArgs: ['--hub'] })
    const kitchen = await rooms.room('kitchen', { parent: hall })
    const den = await rooms.room('den', { parent: hall })
    await den.node.kill()
    await waitFor('the hall to see the den go', async () => !(await hall.node.status()).children.some(child => child.name === 'den'))

    const sent = await runCli(['send', '--home', kitchen.node.home, '--to', 'den', 'Dinner is at seven'])
    expect(sent.code, sent.stderr).toBe(0)
    expect(sent.stdout).toBe('den is away: the message waits for it, and is delivered when it is back\n')
    expect(await sendFromBus(kitchen, 'den', 4)).toEqual(['queued', 'queued', 'queued', 'queued'])
    const waiting = await mailOf(hall.node)
    expect(waiting).toEqual([expect.objectContaining({ room: 'den', count: 5 })])

    const back = await comeBack(den, hall)
    await waitFor('the den to hear its mail', () => spokenOn(back.bus).length >= 5, { timeoutMs: 20_000 })
    expect(spokenOn(back.bus)).toEqual(['Dinner is at seven', 'message 0', 'message 1', 'message 2', 'message 3'])
    expect(await mailOf(hall.node)).toEqual([])
    expect((await hall.node.status()).mail).toMatchObject({ held: 5, deliveredLater: 5, waiting: 0 })
    // and the kitchen, which sent them, is told
    await waitFor('the kitchen to be told each was delivered', () => kitchen.bus.of('mesh.mail.delivered').length === 5)
    expect(kitchen.bus.of('mesh.mail.delivered').every(m => m.data.to === 'den')).toBe(true)
  })

  it('100 messages for a room that is away survive kill -9 of the hub; the room back, all 100 arrive in order, none twice', async () => {
    const hall = await rooms.room('hall', { extraArgs: ['--hub'] })
    const kitchen = await rooms.room('kitchen', { parent: hall })
    const den = await rooms.room('den', { parent: hall })
    await den.node.kill()
    await waitFor('the hall to see the den go', async () => !(await hall.node.status()).children.some(child => child.name === 'den'))
    const statuses = await sendFromBus(kitchen, 'den', 100)
    expect(statuses.every(status => status === 'queued')).toBe(true)

    // the hub dies without a goodbye, and comes back on the same home and port
    await hall.node.kill()
    const hallAgain = new NodeProcess({ home: hall.node.home, name: 'hall', bus: 'embedded:0', extraArgs: ['--hub'] })
    restarted.push(hallAgain)
    await hallAgain.start()
    expect(await mailOf(hallAgain)).toEqual([expect.objectContaining({ room: 'den', count: 100 })])

    const back = await comeBack(den, { ...hall, node: hallAgain })
    await waitFor('the den to hear all its mail', () => spokenOn(back.bus).length >= 100, { timeoutMs: 30_000 })
    expect(spokenOn(back.bus)).toEqual(Array.from({ length: 100 }, (_, i) => `message ${i}`))
    expect(await mailOf(hallAgain)).toEqual([])
  })

  it('a full mailbox refuses new mail, saying why, and keeps what it holds; mail that waits too long expires, and its sender is told', async () => {
    const hall = await rooms.room('hall', { extraArgs: ['--hub'], config: { mail: { perRoom: 3, total: 1_000, bytes: 1024 * 1024, ttlMs: 2_000 } } })
    const kitchen = await rooms.room('kitchen', { parent: hall })
    const den = await rooms.room('den', { parent: hall })
    await den.node.kill()
    await waitFor('the hall to see the den go', async () => !(await hall.node.status()).children.some(child => child.name === 'den'))

    expect(await sendFromBus(kitchen, 'den', 4)).toEqual(['queued', 'queued', 'queued', 'refused'])
    const refused = kitchen.bus.messages.filter(m => m.type === 'mesh.send.response' && m.data.status === 'refused')
    expect(refused[0]?.data.reason).toMatch(/den already has 3 messages waiting, as many as a room may/)
    expect(await mailOf(hall.node)).toEqual([expect.objectContaining({ room: 'den', count: 3 })])

    await waitFor('the mail to expire', async () => ((await hall.node.status()).mail as { expired: number }).expired === 3, { timeoutMs: 20_000 })
    expect(await mailOf(hall.node)).toEqual([])
    await waitFor('the kitchen to be told they expired', () => kitchen.bus.of('mesh.mail.expired').length === 3)
    const back = await comeBack(den, hall)
    await waitFor('the den to link', async () => (await back.node.status()).parent.state === 'linked')
    expect(spokenOn(back.bus)).toEqual([])
  })
})
