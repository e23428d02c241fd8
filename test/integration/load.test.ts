import { afterAll, describe, expect, it } from 'vitest'
import { defaultPermissions } from '../../src/access/index.ts'
import { MAX_ASKS_IN_FLIGHT_PER_CHILD } from '../../src/routing/index.ts'
import { runCli } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'
import { RawPeers, type RawLink } from '../helpers/raw-peer.ts'
import { Rooms } from '../helpers/rooms.ts'

/**
 * Honest load, on real nodes over loopback: a burst of questions on one room's bus, and a hub serving many rooms.
 * A node paces what it sends up within the limits its parent stated; nobody is refused, cut off or left unanswered.
 */

const CHILD_RATE = defaultPermissions('child').framesPerSecond
const question = (utterance: string, deadlineMs = 15_000): Record<string, unknown> => ({ utterances: [utterance], lang: 'en-US', deadlineMs })

describe('honest load', () => {
  const rooms = new Rooms()
  const peers = new RawPeers()

  afterAll(async () => {
    await peers.stopAll()
    await rooms.cleanup()
  })

  it('a burst of 150 misses on a room\'s own bus: the room queues its questions within the parent\'s limits, every one is answered, nobody is refused', async () => {
    const BURST = 150
    const answers = Object.fromEntries(Array.from({ length: BURST }, (_, i) => [`question ${i}`, `answer ${i}`]))
    // slow enough that the burst has to wait for slots
    const hub = await rooms.room('hub', { assistant: { answers, answerDelayMs: 300 } })
    const kitchen = await rooms.room('kitchen', { parent: hub })
    const linked = (await kitchen.node.status()).parent
    expect(linked.limits).toEqual({ framesPerSecond: CHILD_RATE, asksInFlight: MAX_ASKS_IN_FLIGHT_PER_CHILD })

    // what a classic core puts on the bus when nothing handles an utterance, 150 times at once
    for (let i = 0; i < BURST; i++) kitchen.bus.emit({ type: 'complete_intent_failure', data: { utterances: [`question ${i}`], lang: 'en-US' }, context: {} })

    const spoken = await waitFor(`${BURST} answers spoken in the kitchen`, () => {
      const said = kitchen.bus.of('speak').map(m => String(m.data.utterance))
      return said.length >= BURST ? said : undefined
    }, { timeoutMs: 30_000 })
    expect(new Set(spoken)).toEqual(new Set(Object.values(answers)))

    const [hubStatus, kitchenStatus] = await Promise.all([hub.node.status(), kitchen.node.status()])
    expect(hubStatus.access).toMatchObject({ violations: 0, cutOffs: 0, busy: 0 })
    expect(hubStatus.asks.refusedBusy).toBe(0)
    expect(kitchenStatus.asks).toMatchObject({ asksSent: BURST, answered: BURST, givenBack: 0 })
    expect(kitchenStatus.parent).toMatchObject({ state: 'linked', since: linked.since, attempts: 0 })
  })

  it('a parent that lowers a room\'s rate tells it at once, and the room sends no faster: a burst arrives whole, nothing is refused', async () => {
    const RATE = 10
    const BURST = 40
    const answers = Object.fromEntries(Array.from({ length: BURST }, (_, i) => [`slow question ${i}`, `slow answer ${i}`]))
    const hub = await rooms.room('hall', { assistant: { answers } })
    const porch = await rooms.room('porch', { parent: hub })
    const lowered = await runCli(['allow', '--home', hub.node.home, 'porch', 'ask', '--rate', String(RATE)])
    expect(lowered.code, lowered.stderr).toBe(0)
    await waitFor('the porch to be told its new rate', async () => (await porch.node.status()).parent.limits?.framesPerSecond === RATE)

    // twice what the hall takes at once, more than it takes in a second
    for (let i = 0; i < BURST; i++) porch.bus.emit({ type: 'complete_intent_failure', data: { utterances: [`slow question ${i}`], lang: 'en-US' }, context: {} })
    const spoken = await waitFor(`${BURST} answers spoken on the porch`, () => {
      const said = porch.bus.of('speak').map(m => String(m.data.utterance))
      return said.length >= BURST ? said : undefined
    }, { timeoutMs: 20_000 })
    expect(new Set(spoken)).toEqual(new Set(Object.values(answers)))
    expect((await hub.node.status()).access).toMatchObject({ violations: 0, busy: 0, cutOffs: 0 })
  })

  it('a hub with 20 rooms, each asking within its own limits: the root serves the hub like 20 rooms, and never mixes their sessions', async () => {
    const ROOMS = 20
    const PER_ROOM = MAX_ASKS_IN_FLIGHT_PER_CHILD
    const answers = Object.fromEntries(Array.from({ length: ROOMS * PER_ROOM }, (_, i) => [`room ${Math.floor(i / PER_ROOM)} question ${i % PER_ROOM}`, `answer ${i}`]))
    const brain = await rooms.room('brain', { assistant: { answers, answerDelayMs: 500 } })
    // a hub with no assistant of its own: it passes every question on
    const hub = await rooms.node({ name: 'hub', parent: await brain.node.addr() })
    await waitFor('the hub to link', async () => (await hub.status()).parent.state === 'linked')
    const hubAddr = await hub.addr()

    const links: RawLink[] = []
    for (let i = 0; i < ROOMS; i++) {
      const link = await peers.link(hubAddr)
      const welcome = await link.hello(`room-${i}`)
      expect((welcome.body as { limits?: Record<string, number> }).limits).toEqual({ framesPerSecond: CHILD_RATE, asksInFlight: PER_ROOM })
      links.push(link)
    }
    // the hub tells the brain how many it speaks for, and the brain grows its limits to match
    const grown = await waitFor('the brain to grow the hub\'s limits', async () => {
      const limits = (await hub.status()).parent.limits
      return limits?.asksInFlight === PER_ROOM * (ROOMS + 1) ? limits : undefined
    })
    expect(grown.framesPerSecond).toBe(CHILD_RATE * (ROOMS + 1))
    expect((await brain.node.status()).children).toEqual([expect.objectContaining({ name: 'hub', subtree: ROOMS + 1 })])

    const asked = links.flatMap((link, room) => Array.from({ length: PER_ROOM }, (_, i) => ({
      room,
      link,
      // as a real room sends it: itself on the route
      id: link.envelope({ kind: 'ask', route: [link.peerId], body: question(`room ${room} question ${i}`) })
    })))
    const replies = await Promise.all(asked.map(async ({ link, id }) => link.replyTo(id, 20_000)))
    expect(replies.map(reply => (reply.body as { status: string }).status)).toEqual(asked.map(() => 'answered'))

    const brainStatus = await brain.node.status()
    expect(brainStatus.access).toMatchObject({ violations: 0, cutOffs: 0, busy: 0 })
    expect(brainStatus.asks.refusedBusy).toBe(0)
    expect((await hub.status()).parent).toMatchObject({ state: 'linked', attempts: 0 })

    // one session per room that asked, the same for all its questions: conversations never leak between rooms
    const sessionOf = new Map<number, Set<string>>()
    for (const heard of brain.assistant?.heard ?? []) {
      const room = /^room (\d+) /.exec(String((heard.data.utterances as string[] | undefined)?.[0] ?? ''))?.[1]
      if (room === undefined) continue
      const session = (heard.context.session as { session_id?: string } | undefined)?.session_id ?? '?'
      sessionOf.set(Number(room), (sessionOf.get(Number(room)) ?? new Set()).add(session))
    }
    expect(sessionOf.size).toBe(ROOMS)
    expect([...sessionOf.values()].every(sessions => sessions.size === 1)).toBe(true)
    expect(new Set([...sessionOf.values()].flatMap(sessions => [...sessions])).size).toBe(ROOMS)
  })
})
