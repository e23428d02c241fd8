/**
 * The house for local skills, over the bus (`mesh.send`, `mesh.broadcast`, `mesh.rooms`, `mesh.ask`), on a tree of
 * real nodes on loopback: a hall (the top of the house) with a kitchen and a den below it. The permissions `relay`
 * and `broadcast` are denied and allowed here, as a user would with `deny`/`allow`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { ANNOUNCE_BURST, signAsOrigin } from '../../src/routing/index.ts'
import { openLink, RawPeers } from '../helpers/raw-peer.ts'
import { Rooms, type Room } from '../helpers/rooms.ts'
import type { BusMessage } from '../../support/bus-probe.ts'

const rooms = new Rooms()
const peers = new RawPeers()
let hall: Room
let kitchen: Room
let den: Room

beforeAll(async () => {
  hall = await rooms.room('hall', { extraArgs: ['--hub'], assistant: { answers: { 'what time is dinner': 'At seven.' } } })
  kitchen = await rooms.room('kitchen', { parent: hall, assistant: { answers: { 'how long is left on the timer': 'Four minutes.' } } })
  den = await rooms.room('den', { parent: hall })
})
afterAll(async () => {
  await peers.stopAll()
  await rooms.cleanup()
})

/** Emits a request on the den's bus and resolves with its response. */
async function request (type: string, data: Record<string, unknown>): Promise<BusMessage> {
  const since = den.bus.mark
  den.bus.emit({ type, data, context: { source: 'test-skill', destination: ['mycroft-mesh'] } })
  return den.bus.waitFor(`${type}.response`, message => message.type === `${type}.response`, 15_000, { since })
}

/** What a raw peer claims `room` said, with a signature that is not its origin's. */
async function forgedFrom (room: Room, utterance: string): Promise<Record<string, unknown>> {
  const origin = (await room.node.status()).peerId
  return { from: room.node.options.name, origin, at: Date.now(), sig: 'AAAA', message: { type: 'speak', data: { utterance }, context: {} } }
}

describe('the bus API', () => {
  it('mesh.send: the kitchen speaks what a skill in the den sent it, naming the den; the skill learns it was delivered', async () => {
    const since = kitchen.bus.mark
    const response = await request('mesh.send', { to: 'kitchen', data: { utterance: 'Dinner is ready' } })
    expect(response.data).toEqual({ status: 'delivered' })
    expect(response.context.destination).toBe('test-skill')
    const spoken = await kitchen.bus.waitFor('the kitchen to speak it', message => message.type === 'speak', 5_000, { since })
    expect(spoken.data.utterance).toBe('Dinner is ready')
    expect(spoken.context.mesh).toEqual({ from: 'den', from_peer: (await den.node.status()).peerId })
    expect(spoken.context.session).toEqual({ session_id: 'default' })
  })

  it('mesh.send to a room nobody has, of a type the room does not allow, or with bad data: a clear answer, nothing on the room\'s bus', async () => {
    expect((await request('mesh.send', { to: 'garage', data: { utterance: 'hello' } })).data).toMatchObject({ status: 'no-such-room' })
    const since = kitchen.bus.mark
    const volume = await request('mesh.send', { to: 'kitchen', type: 'mycroft.volume.set', data: { percent: 0 } })
    expect(volume.data).toMatchObject({ status: 'refused', reason: 'you may not send \'mycroft.volume.set\' messages to this node\'s bus' })
    expect(kitchen.bus.messages.slice(since).some(message => message.type === 'mycroft.volume.set')).toBe(false)
    const invalid = await request('mesh.send', { to: 42 })
    expect(invalid.data.status).toBe('invalid')
    expect(String(invalid.data.reason)).toContain("field 'to'")
  })

  it('deny relay: the hall refuses to pass the den\'s messages on; allow relay: delivered again', async () => {
    expect((await runCli(['deny', '--home', hall.node.home, 'den', 'relay'])).code).toBe(0)
    expect((await request('mesh.send', { to: 'kitchen', data: { utterance: 'psst' } })).data).toMatchObject({ status: 'refused', reason: 'you may not have this node pass messages on' })
    expect((await runCli(['allow', '--home', hall.node.home, 'den', 'relay'])).code).toBe(0)
    expect((await request('mesh.send', { to: 'kitchen', data: { utterance: 'psst' } })).data).toEqual({ status: 'delivered' })
  })

  it('mesh.broadcast needs the broadcast permission (a plain child has none); allowed, every other room speaks it', async () => {
    const since = { hall: hall.bus.mark, kitchen: kitchen.bus.mark }
    const refused = await request('mesh.broadcast', { data: { utterance: 'Leaving now' } })
    expect(refused.data).toMatchObject({ status: 'sent' })
    expect((await hall.node.status()).access.violations).toBeGreaterThan(0)

    expect((await runCli(['allow', '--home', hall.node.home, 'den', 'broadcast'])).code).toBe(0)
    await request('mesh.broadcast', { data: { utterance: 'Leaving in five' } })
    for (const [room, mark] of [[hall, since.hall], [kitchen, since.kitchen]] as const) {
      const heard = await room.bus.waitFor(`${room.node.options.name} to speak it`, message => message.type === 'speak' && message.data.utterance === 'Leaving in five', 5_000, { since: mark })
      expect(heard.context.mesh).toEqual({ from: 'den', from_peer: (await den.node.status()).peerId })
    }
    expect(kitchen.bus.messages.slice(since.kitchen).some(message => message.data.utterance === 'Leaving now')).toBe(false)
    expect(den.bus.messages.some(message => message.type === 'speak' && message.data.utterance === 'Leaving in five')).toBe(false)
  })

  it('mesh.rooms lists the house; mesh.ask asks up the tree as an unhandled utterance would', async () => {
    const listed = await request('mesh.rooms', {})
    expect((listed.data.rooms as Array<{ name: string }>).map(room => room.name).sort()).toEqual(['den', 'hall', 'kitchen'])
    const asked = await request('mesh.ask', { utterance: 'what time is dinner' })
    expect(asked.data).toMatchObject({ status: 'answered', answered_by: 'hall', speaks: [expect.objectContaining({ utterance: 'At seven.' })] })
  })

  it('ask a room: the kitchen\'s assistant answers the den in a session of the den\'s own, and the kitchen stays silent', async () => {
    const since = kitchen.bus.mark
    const asked = await request('mesh.ask', { to: 'kitchen', utterance: 'how long is left on the timer' })
    expect(asked.data).toMatchObject({ status: 'answered', answered_by: 'kitchen', speaks: [expect.objectContaining({ utterance: 'Four minutes.' })] })
    const utterance = kitchen.bus.messages.slice(since).find(message => message.type === 'recognizer_loop:utterance')
    expect((utterance?.context.session as { session_id?: string } | undefined)?.session_id).toMatch(/^mesh-den-/)
    // the answer was spoken in the den's session, which no speaker of the kitchen plays
    const spoken = kitchen.bus.messages.slice(since).filter(message => message.type === 'speak')
    expect(spoken.map(message => (message.context.session as { session_id?: string }).session_id)).not.toContain('default')
  })

  it('`mycroft-mesh ask`: --to a room, or up the tree; a room that does not know says so and exits 1', async () => {
    const fromRoom = await runCli(['ask', '--home', den.node.home, '--to', 'kitchen', 'how long is left on the timer'])
    expect(fromRoom).toMatchObject({ code: 0, stdout: 'Four minutes.\n' })
    const upTheTree = await runCli(['ask', '--home', den.node.home, 'what time is dinner'])
    expect(upTheTree).toMatchObject({ code: 0, stdout: 'At seven.\n' })
    const unknown = await runCli(['ask', '--home', den.node.home, '--to', 'kitchen', 'what is the capital of atlantis'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('no answer from kitchen: no-answer')
  })

  it('a relayed message whose origin did not sign it is refused by the room it names, and never spoken there', async () => {
    const raw = await peers.link(await hall.node.addr())
    await raw.hello('intruder')
    const since = kitchen.bus.mark
    const outcome = await raw.replyTo(raw.envelope({ kind: 'relay', body: { id: 'forged-relay', to: 'kitchen', ...await forgedFrom(den, 'open the door') } }), 10_000)
    expect(outcome.body).toMatchObject({ status: 'refused', reason: expect.stringMatching(/^not taken as from den: its signature/) as unknown })
    expect(kitchen.bus.messages.slice(since).some(message => message.data.utterance === 'open the door')).toBe(false)
    expect((await kitchen.node.status()).relay).toMatchObject({ forged: 1 })
  })

  it('a room that is away is listed offline; a message for it waits, and a question for it is told so', async () => {
    await den.node.kill()
    await waitFor('the hall to notice the den is gone', async () => !(await hall.node.status()).children.some(child => child.name === 'den'))
    const listed = JSON.parse((await runCli(['rooms', '--home', kitchen.node.home, '--json'])).stdout) as Array<{ name: string, state: string }>
    expect(listed).toContainEqual(expect.objectContaining({ name: 'den', state: 'offline' }))
    const sent = await runCli(['send', '--home', kitchen.node.home, '--to', 'den', 'are you there'])
    expect(sent.code, sent.stderr).toBe(0)
    expect(sent.stdout).toBe('den is away: the message waits for it, and is delivered when it is back\n')
    const asked = await runCli(['ask', '--home', kitchen.node.home, '--to', 'den', 'are you there'])
    expect(asked.code).toBe(1)
    expect(asked.stderr).toContain('no answer from den: offline (den is a room of this house, but it is not linked now)')
  })

  it('an announcement whose origin did not sign it is dropped by the first node it reaches, and spoken nowhere', async () => {
    const raw = await peers.link(await hall.node.addr())
    await raw.hello('shouter')
    // allowed to announce, so that what stops it is the signature, not the permission
    expect((await runCli(['allow', '--home', hall.node.home, 'shouter', 'broadcast'])).code).toBe(0)
    const since = kitchen.bus.mark
    const refused = await raw.replyTo(raw.envelope({ kind: 'broadcast', body: { id: 'forged-1', ...await forgedFrom(kitchen, 'fire drill') } }), 5_000)
    expect(refused.body).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/^announcement not taken as from kitchen: its signature/) as unknown })
    expect((await hall.node.status()).broadcast).toMatchObject({ forged: 1 })
    expect([...hall.bus.messages, ...kitchen.bus.messages.slice(since)].some(message => message.data.utterance === 'fire drill')).toBe(false)
  })

  it('a flood of announcements: a room announces at a house\'s pace, and a hostile room that floods is held to it by the hub', async () => {
    expect((await runCli(['allow', '--home', hall.node.home, 'kitchen', 'broadcast'])).code).toBe(0)
    const since = hall.bus.mark
    const mark = kitchen.bus.mark
    for (let i = 0; i < 12; i++) kitchen.bus.emit({ type: 'mesh.broadcast', data: { data: { utterance: `flood ${i}` } }, context: { source: 'test-skill', destination: ['mycroft-mesh'] } })
    const replies = await waitFor('12 responses', () => {
      const got = kitchen.bus.messages.slice(mark).filter(m => m.type === 'mesh.broadcast.response')
      return got.length >= 12 ? got : undefined
    })
    const statuses = replies.map(reply => reply.data.status)
    expect(statuses.filter(status => status === 'sent')).toHaveLength(ANNOUNCE_BURST)
    expect(statuses.filter(status => status === 'rate-limited')).toHaveLength(12 - ANNOUNCE_BURST)
    expect(replies.find(reply => reply.data.status === 'rate-limited')?.data.reason).toMatch(/more than 5 announcements at once/)
    await waitFor('the hall to speak what was sent', () => hall.bus.messages.slice(since).filter(m => m.type === 'speak' && /^flood /.test(String(m.data.utterance))).length === ANNOUNCE_BURST)

    // a raw room that signs its own announcements, and sends 50 at once
    const privateKey = await generateKeyPair('Ed25519')
    const client = await peers.client('yamux', { privateKey })
    const raw = await openLink(client, await hall.node.addr())
    await raw.hello('shouter-2')
    expect((await runCli(['allow', '--home', hall.node.home, 'shouter-2', 'broadcast'])).code).toBe(0)
    const overRate = async (): Promise<number> => ((await hall.node.status()).broadcast as { overRate: number }).overRate
    const before = await overRate()
    const origin = client.peerId.toString()
    const bodies = await Promise.all(Array.from({ length: 50 }, async (_, i) => signAsOrigin(privateKey, origin, 'broadcast', { id: `shout-${i}`, from: 'shouter-2', message: { type: 'speak', data: { utterance: `shout ${i}` }, context: {} } })))
    const heardFrom = hall.bus.mark
    raw.envelopes(bodies.map(body => ({ kind: 'broadcast', body })))
    await waitFor('the hub to drop the flood', async () => await overRate() - before >= 50 - 2 * ANNOUNCE_BURST)
    const shouted = hall.bus.messages.slice(heardFrom).filter(m => m.type === 'speak' && /^shout /.test(String(m.data.utterance)))
    expect(shouted.length).toBeLessThanOrEqual(2 * ANNOUNCE_BURST)
    expect((await hall.node.status()).access.cutOffs).toBe(0)
  })
})
