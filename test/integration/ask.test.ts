import { afterEach, describe, expect, it } from 'vitest'
import { StandInAssistant, STAND_IN_DONT_KNOW } from '../../support/stand-in-assistant.ts'
import { BusProbe, type BusMessage } from '../../support/bus-probe.ts'
import { NodeProcess } from '../../support/node-process.ts'
import { Rooms, type Room } from '../helpers/rooms.ts'
import { waitFor } from '../../support/wait.ts'

const rooms = new Rooms()
afterEach(async () => { await rooms.cleanup() })
const room = rooms.room.bind(rooms)

const speaks = (bus: BusProbe): BusMessage[] => bus.of('speak')
const spoken = (bus: BusProbe): string[] => speaks(bus).map(message => String(message.data.utterance))

describe('ask the parent', () => {
  it('a question the kitchen cannot answer is answered by its parent, and spoken on the kitchen bus', async () => {
    const brain = await room('brain', { assistant: { answers: { 'what is in this picture': 'A cat on a sofa.' } } })
    const kitchen = await room('kitchen', { parent: brain, assistant: { fallbackUnknown: true } })

    kitchen.bus.say('what is in this picture')

    const answer = await kitchen.bus.waitFor('the answer on the kitchen bus', message => message.type === 'speak' && message.data.utterance === 'A cat on a sofa.')
    // spoken the way a local skill speaks: the default session, so the kitchen's own audio plays it
    expect(answer.context.session).toMatchObject({ session_id: 'default' })
    expect(answer.context.destination).toBe('audio')
    expect(answer.data.meta).toMatchObject({ answered_by: 'brain' })
    await kitchen.bus.waitFor('the fallback handshake to finish', message => message.type === 'ovos.utterance.handled' && message.context.skill_id === 'mycroft-mesh.bridge')
    // the kitchen's own "I don't know" stayed silent
    expect(spoken(kitchen.bus)).toEqual(['A cat on a sofa.'])

    // the brain answered under a session of the kitchen's own, so the brain's speakers stayed silent
    const injected = brain.assistant?.heard[0]
    expect((injected?.context.session as { session_id?: string } | undefined)?.session_id).toMatch(/^mesh-kitchen-/)
    const brainStatus = await brain.node.status()
    expect(brainStatus.asks).toMatchObject({ asksFromChildren: 1, answeredForChildren: 1 })
    await waitFor('kitchen counters', async () => (await kitchen.node.status()).asks.answered === 1)
    expect((await kitchen.node.status()).asks).toMatchObject({ asksSent: 1, answered: 1, unanswered: 0 })
  })

  it('goes on to the grandparent when the parent does not know either', async () => {
    const root = await room('root', { assistant: { answers: { 'how far is the moon': 'About 384,000 kilometres.' } } })
    const hub = await room('hub', { parent: root, assistant: { answers: {} } })
    const kitchen = await room('kitchen', { parent: hub, assistant: { fallbackUnknown: true } })

    kitchen.bus.say('how far is the moon')

    const answer = await kitchen.bus.waitFor('the root\'s answer', message => message.type === 'speak' && message.data.utterance === 'About 384,000 kilometres.')
    expect(answer.data.meta).toMatchObject({ answered_by: 'root' })
    expect(hub.assistant?.heard.length).toBe(1)
    expect((await hub.node.status()).asks).toMatchObject({ asksFromChildren: 1, answeredForChildren: 0, forwardedUp: 1 })
  })

  it('when nobody up to the root knows, the kitchen\'s own assistant answers', async () => {
    const root = await room('root', { assistant: { answers: {} } })
    const kitchen = await room('kitchen', { parent: root, assistant: { fallbackUnknown: true } })

    kitchen.bus.say('what is the capital of atlantis')

    await kitchen.bus.waitFor('the kitchen\'s own "I don\'t know"', message => message.type === 'speak' && message.data.utterance === STAND_IN_DONT_KNOW)
    expect(spoken(kitchen.bus)).toEqual([STAND_IN_DONT_KNOW])
    await waitFor('the unanswered counter', async () => (await kitchen.node.status()).asks.unanswered === 1)
  })

  it('without a linked parent the bridge does not claim the utterance, and the local assistant answers at once', async () => {
    const kitchen = await room('kitchen', { assistant: { fallbackUnknown: true } })
    kitchen.bus.say('tell me a joke about routers')
    await kitchen.bus.waitFor('the local "I don\'t know"', message => message.type === 'speak' && message.data.utterance === STAND_IN_DONT_KNOW)
    const pong = kitchen.bus.messages.find(message => message.type === 'ovos.skills.fallback.pong' && message.data.skill_id === 'mycroft-mesh.bridge')
    expect(pong?.data.can_handle).toBe(false)
    expect((await kitchen.node.status()).asks.asksSent).toBe(0)
  })

  it('a parent killed mid-question: the kitchen\'s own assistant answers instead of silence', async () => {
    const brain = await room('brain', { assistant: { answers: { 'slow question': 'too late' }, answerDelayMs: 60_000 } })
    const kitchen = await room('kitchen', { parent: brain, assistant: { fallbackUnknown: true } })

    kitchen.bus.say('slow question')
    await waitFor('the brain to hear the question', () => brain.assistant?.heard.length === 1)
    await brain.node.kill()

    await kitchen.bus.waitFor('the kitchen\'s own answer', message => message.type === 'speak' && message.data.utterance === STAND_IN_DONT_KNOW)
    expect(spoken(kitchen.bus)).toEqual([STAND_IN_DONT_KNOW])
    expect((await kitchen.node.status()).asks.failed).toBe(1)
  })

  it('a skill on the hub can speak in one room later by naming it, and no other room hears it', async () => {
    const hub = await room('hub')
    const kitchen = await room('kitchen', { parent: hub })
    const living = await room('living-room', { parent: hub })
    const kitchenId = (await kitchen.node.status()).peerId

    const later = (destination: string, utterance: string): void => {
      hub.bus.emit({ type: 'speak', data: { utterance, lang: 'en-US' }, context: { source: 'skills', destination, session: { session_id: 'deep-dream' } } })
    }
    later('kitchen', 'The deep dream is ready.')
    later(kitchenId, 'Addressed by peer id.')
    later('living-room', 'Dinner is ready.')

    const dream = await kitchen.bus.waitFor('the later message in the kitchen', message => message.type === 'speak' && message.data.utterance === 'The deep dream is ready.')
    expect(dream.context.session).toMatchObject({ session_id: 'default' })
    await kitchen.bus.waitFor('the message addressed by peer id', message => message.type === 'speak' && message.data.utterance === 'Addressed by peer id.')
    await living.bus.waitFor('the living room\'s own message', message => message.type === 'speak' && message.data.utterance === 'Dinner is ready.')
    expect(spoken(kitchen.bus)).toEqual(['The deep dream is ready.', 'Addressed by peer id.'])
    expect(spoken(living.bus)).toEqual(['Dinner is ready.'])
  })
})

describe('loops', () => {
  it('a ring of three nodes, each the next one\'s parent, answers "loop" instead of asking round forever', async () => {
    const a = await room('a', { assistant: { fallbackUnknown: true } })
    const b = await room('b', { parent: a, assistant: { answers: {} } })
    const c = await room('c', { parent: b, assistant: { answers: {} } })
    // a is restarted with c as its parent, closing the ring a → c → b → a
    await a.bus.close()
    a.assistant?.close()
    await a.node.stop()
    const aAgain = new NodeProcess({ ...a.node.options, parent: await c.node.addr(), listen: (await b.node.status()).parent.addr?.replace(/\/p2p\/.*$/, '') })
    await aAgain.start()
    const url = (await aAgain.status()).bus.url ?? ''
    const ring: Room = { node: aAgain, bus: await BusProbe.connect(url), assistant: await new StandInAssistant({ fallbackUnknown: true }).connect(url) }
    rooms.adopt(ring)
    await waitFor('the ring to close', async () => (await aAgain.status()).parent.state === 'linked' && (await b.node.status()).parent.state === 'linked')

    ring.bus.say('who is first')

    await ring.bus.waitFor('a\'s own answer after the loop is refused', message => message.type === 'speak' && message.data.utterance === STAND_IN_DONT_KNOW)
    await waitFor('a to record the failed ask', async () => (await aAgain.status()).asks.failed === 1)
    // the question went round once: c and b each passed it up once, and a refused it when it came back
    expect((await aAgain.status()).asks).toMatchObject({ asksSent: 1, asksFromChildren: 1, forwardedUp: 0 })
    expect((await c.node.status()).asks).toMatchObject({ asksFromChildren: 1, forwardedUp: 1 })
    expect((await b.node.status()).asks).toMatchObject({ asksFromChildren: 1, forwardedUp: 1 })
  })
})
