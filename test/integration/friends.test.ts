import { randomUUID } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HouseKey } from '../../src/house/index.ts'
import { signAsOrigin } from '../../src/routing/index.ts'
import { Homes, runCli } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'
import { openLink, RawPeers } from '../helpers/raw-peer.ts'
import { Rooms, type Room } from '../helpers/rooms.ts'
import type { BusMessage } from '../../support/bus-probe.ts'

/**
 * Friends, on two houses under one brain (real nodes on loopback, each house with its own key, the brain with
 * none): the recipient decides who may speak to it. Housemates may; anyone else must be on its friend list.
 */

const rooms = new Rooms()
const homes = new Homes()
const peers = new RawPeers()
let keyA: string
let brain: Room
let hallA: Room
let kitchenA: Room
let hallB: Room
let atticB: Room

beforeAll(async () => {
  const keys = await homes.make('mm-keys-')
  keyA = join(keys, 'smith.key')
  const keyB = join(keys, 'jones.key')
  for (const path of [keyA, keyB]) await writeFile(path, (await runCli(['house-key'])).stdout)
  brain = await rooms.room('brain')
  hallA = await rooms.room('hall-a', { parent: brain, extraArgs: ['--hub', '--house-key', keyA] })
  kitchenA = await rooms.room('kitchen-a', { parent: hallA, extraArgs: ['--house-key', keyA] })
  hallB = await rooms.room('hall-b', { parent: brain, extraArgs: ['--hub', '--house-key', keyB] })
  atticB = await rooms.room('attic-b', { parent: hallB, extraArgs: ['--house-key', keyB] })
  await waitFor('the brain to know both houses', async () => {
    const listed = JSON.parse((await runCli(['rooms', '--home', brain.node.home, '--json'])).stdout) as unknown[]
    return listed.length === 5
  })
})

afterAll(async () => {
  await peers.stopAll()
  await rooms.cleanup()
  await homes.cleanup()
})

const said = (room: Room, since: number, type: string): BusMessage[] => room.bus.messages.slice(since).filter(m => m.type === type)

describe('friends', () => {
  it('a housemate is heard without asking', async () => {
    const sent = await runCli(['send', '--home', kitchenA.node.home, '--to', 'hall-a', 'The oven is on'])
    expect(sent.code, sent.stderr).toBe(0)
    expect(sent.stdout).toBe('delivered to hall-a\n')
  })

  it('a node of another house is refused, both sides are warned, and the attempt waits as a friend request; accepted, it is heard', async () => {
    const marks = { kitchen: kitchenA.bus.mark, attic: atticB.bus.mark }
    const refused = await runCli(['send', '--home', kitchenA.node.home, '--to', 'attic-b', 'jarbas says hello'])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('not delivered to attic-b: refused (attic-b takes no messages from kitchen-a: it is not of its house nor one of its friends)')
    const kitchenPeer = (await kitchenA.node.status()).peerId

    const warned = await kitchenA.bus.waitFor('the sender\'s warning', m => m.type === 'connection.refused.warning', 5_000, { since: marks.kitchen })
    expect(warned.data).toMatchObject({ to: 'attic-b' })
    const attempt = await atticB.bus.waitFor('the recipient\'s warning', m => m.type === 'connection.attempt.warning', 5_000, { since: marks.attic })
    expect(attempt.data).toEqual({ from: kitchenPeer, name: 'kitchen-a' })
    await atticB.bus.waitFor('the friend request on the bus', m => m.type === 'mesh.friend.request', 5_000, { since: marks.attic })
    expect(said(atticB, marks.attic, 'speak').some(m => m.data.utterance === 'jarbas says hello')).toBe(false)

    // a second try is refused too, on the way this time: the attic does not even have to decide again
    expect((await runCli(['send', '--home', kitchenA.node.home, '--to', 'attic-b', 'hello again'])).code).toBe(1)
    expect(said(atticB, marks.attic, 'connection.attempt.warning')).toHaveLength(1)
    expect((await atticB.node.status()).relay).toMatchObject({ notFriends: 1 })
    const refusedOnTheWay = await Promise.all([hallA, brain, hallB].map(async room => ((await room.node.status()).relay as { refusedAsBefore: number }).refusedAsBefore))
    expect(refusedOnTheWay.reduce((sum, count) => sum + count, 0)).toBe(1)
    const requests = await runCli(['friend', 'requests', '--home', atticB.node.home])
    expect(requests.stdout).toContain(`kitchen-a  ${kitchenPeer}`)

    const accepted = await runCli(['friend', 'accept', '--home', atticB.node.home, 'kitchen-a'])
    expect(accepted.code, accepted.stderr).toBe(0)
    expect(accepted.stdout).toBe('kitchen-a is a friend now; it may send: speak\n')
    const delivered = await runCli(['send', '--home', kitchenA.node.home, '--to', 'attic-b', 'jarbas says hello'])
    expect(delivered.code, delivered.stderr).toBe(0)
    const heard = await atticB.bus.waitFor('the attic to speak it', m => m.type === 'speak' && m.data.utterance === 'jarbas says hello', 5_000, { since: marks.attic })
    expect(heard.context.mesh).toEqual({ from: 'kitchen-a', from_peer: kitchenPeer })
    // and by the bus, as a skill in the kitchen would
    const sendMark = kitchenA.bus.mark
    kitchenA.bus.emit({ type: 'mesh.send', data: { to: 'attic-b', data: { utterance: 'tell jarbas hi back' } }, context: { source: 'test-skill' } })
    const response = await kitchenA.bus.waitFor('the send response', m => m.type === 'mesh.send.response', 5_000, { since: sendMark })
    expect(response.data).toMatchObject({ status: 'delivered' })
    await atticB.bus.waitFor('the attic to speak it', m => m.type === 'speak' && m.data.utterance === 'tell jarbas hi back', 5_000, { since: marks.attic })
    const listed = JSON.parse((await runCli(['friends', '--home', atticB.node.home, '--json'])).stdout) as { friends: Array<{ name: string }>, requests: unknown[] }
    expect(listed.friends.map(friend => friend.name)).toEqual(['kitchen-a'])
    expect(listed.requests).toEqual([])
  })

  it('a skill accepts a friend request over the bus; a removed friend is refused again', async () => {
    const mark = kitchenA.bus.mark
    expect((await runCli(['send', '--home', hallB.node.home, '--to', 'kitchen-a', 'from the Joneses'])).code).toBe(1)
    await kitchenA.bus.waitFor('the friend request', m => m.type === 'mesh.friend.request' && m.data.name === 'hall-b', 5_000, { since: mark })
    kitchenA.bus.emit({ type: 'mesh.friend.accept', data: { name: 'hall-b' }, context: { source: 'test-skill', destination: ['mycroft-mesh'] } })
    const answer = await kitchenA.bus.waitFor('the accept response', m => m.type === 'mesh.friend.accept.response', 5_000, { since: mark })
    expect(answer.data).toEqual({ status: 'accepted', name: 'hall-b' })
    expect((await runCli(['send', '--home', hallB.node.home, '--to', 'kitchen-a', 'from the Joneses'])).code).toBe(0)

    expect((await runCli(['friend', 'remove', '--home', kitchenA.node.home, 'hall-b'])).code).toBe(0)
    expect((await runCli(['send', '--home', hallB.node.home, '--to', 'kitchen-a', 'still there?'])).code).toBe(1)
  })

  it('a message a hop changed on the way is refused by the room it is for, which names the hop', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const client = await peers.client('yamux', { privateKey })
    const raw = await openLink(client, await hallA.node.addr())
    await raw.hello('meddler')
    const origin = client.peerId.toString()
    const signed = await signAsOrigin(privateKey, origin, 'relay', { id: randomUUID(), to: 'kitchen-a', from: 'meddler', message: { type: 'speak', data: { utterance: 'the door is locked' }, context: {} } })
    const tampered = { ...signed, message: { ...signed.message, data: { utterance: 'the door is open' } } }
    const mark = kitchenA.bus.mark
    const outcome = await raw.replyTo(raw.envelope({ kind: 'relay', route: [origin], body: tampered }), 5_000)
    expect(outcome.body).toMatchObject({ status: 'refused', reason: 'not taken as from meddler: its signature does not match its origin' })
    const logged = await kitchenA.node.waitForLog('the kitchen to name the hop', line => /^refused a message said to be from meddler/.test(line.msg))
    expect(logged.msg).toBe('refused a message said to be from meddler, handed on by hall-a: its signature does not match its origin')
    expect(said(kitchenA, mark, 'speak').some(m => /door/.test(String(m.data.utterance)))).toBe(false)
  })

  it('a copy of a message is taken once: the second is dropped, however it comes', async () => {
    // a node of house A (it holds the key, so it can prove it) that sends the very same signed message twice
    const privateKey = await generateKeyPair('Ed25519')
    const client = await peers.client('yamux', { privateKey })
    const raw = await openLink(client, await hallA.node.addr())
    await raw.hello('replayer')
    const origin = client.peerId.toString()
    const id = randomUUID()
    const house = new HouseKey(await readFile(keyA)).prove('mate', origin, id)
    const body = await signAsOrigin(privateKey, origin, 'relay', { id, to: 'kitchen-a', from: 'replayer', house, message: { type: 'speak', data: { utterance: 'said once' }, context: {} } })
    const mark = kitchenA.bus.mark
    const first = await raw.replyTo(raw.envelope({ kind: 'relay', route: [origin], body }), 5_000)
    const second = await raw.replyTo(raw.envelope({ kind: 'relay', route: [origin], body }), 5_000)
    expect(first.body).toMatchObject({ status: 'delivered' })
    expect(second.body).toMatchObject({ status: 'delivered', reason: 'this room had it already' })
    await waitFor('the kitchen to count the copy', async () => ((await kitchenA.node.status()).relay as { duplicates: number }).duplicates === 1)
    expect(said(kitchenA, mark, 'speak').filter(m => m.data.utterance === 'said once')).toHaveLength(1)
  })
})
