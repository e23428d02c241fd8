/**
 * The real OpenVoiceOS core 2.1 from PyPI, headless on loopback: proves support/ovos.ts works and checks the
 * bus facts DESIGN.md §4 builds on. Needs Python 3.10+; the first run builds .cache/ovos-venv from PyPI (about a
 * minute, up to 15 minutes on a slow link: that is the beforeAll timeout), later runs reuse it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BusProbe, type BusMessage } from '../../support/bus-probe.ts'
import { FALLBACK_UNKNOWN, HELLO_WORLD, LISTENER_CONTEXT, OVOS_SKIP_MESSAGE, OvosInstance, ovosVenv, pythonOrSkip, spokenBy } from '../../support/ovos.ts'

const python = pythonOrSkip()

const VENV_TIMEOUT_MS = 15 * 60_000
const ANSWER_MS = 10_000
const BRIDGE = 'mesh-test.bridge'

type Predicate = (message: BusMessage) => boolean
const ofType = (type: string): Predicate => message => message.type === type
const inSession = (sessionId: string, predicate: Predicate): Predicate => message =>
  predicate(message) && (message.context.session as { session_id?: string } | undefined)?.session_id === sessionId

/** Emits an utterance as the listener would; returns the mark to wait from. */
function say (probe: BusProbe, utterance: string, context: Record<string, unknown> = {}): number {
  const since = probe.mark
  probe.emit({ type: 'recognizer_loop:utterance', data: { utterances: [utterance], lang: 'en-US' }, context: { ...LISTENER_CONTEXT, ...context } })
  return since
}

/**
 * Registration messages get no acknowledgment. Core's bus client hands messages to its handlers in arrival order,
 * so once core answers a status query sent after them, it has seen them.
 */
async function coreHasRead (probe: BusProbe): Promise<void> {
  const since = probe.mark
  probe.emit({ type: 'mycroft.skills.is_ready' })
  await probe.waitFor('mycroft.skills.is_ready.response', ofType('mycroft.skills.is_ready.response'), ANSWER_MS, { since })
}

/**
 * The types from `since` up to and including the first `until`, in order. Left out: default-session syncs, the
 * helper's ovos-audio stand-in (it answers a speak concurrently with the rest) and converse pings, which core
 * sends to every skill active in the session (any that answered in the last 5 minutes) before the pipeline.
 */
function typesUntil (probe: BusProbe, since: number, until: Predicate): string[] {
  // what core says on its own whatever the utterance: session sync, audio, converse pings, and readiness answers to a
  // service that asked while core was starting (seen once, late, on a loaded machine)
  const noise = /^ovos\.session\.update_default$|^recognizer_loop:audio_output_(start|end)$|\.converse\.(ping|pong)$|^mycroft\.skills\.is_ready\.response$/
  const types: string[] = []
  for (const message of probe.messages.slice(since)) {
    if (!noise.test(message.type)) types.push(message.type)
    if (until(message)) break
  }
  return types
}

/** Milliseconds between the first message matching `from` and the first matching `to` after it, both from `since`. */
function gapMs (probe: BusProbe, since: number, from: Predicate, to: Predicate): number {
  const start = probe.messages.findIndex((message, index) => index >= since && from(message))
  const end = probe.messages.findIndex((message, index) => index > start && to(message))
  if (start < 0 || end < 0) throw new Error('gapMs: messages not found')
  return (probe.arrivals[end] as number) - (probe.arrivals[start] as number)
}

describe.skipIf(python === null)('real OVOS core 2.1 with hello-world and fallback-unknown', () => {
  let ovos: OvosInstance | undefined
  let listener: BusProbe

  beforeAll(async () => {
    const venv = await ovosVenv()
    if (venv === null) throw new Error(OVOS_SKIP_MESSAGE)
    ovos = await OvosInstance.start({ venv, name: 'smoke', skills: [HELLO_WORLD, FALLBACK_UNKNOWN] })
    listener = await BusProbe.connect(ovos.busUrl)
  }, VENV_TIMEOUT_MS)

  afterAll(async () => {
    await listener?.close()
    await ovos?.stop()
  })

  it('starts headless within seconds (start() also checked that exactly the requested skills loaded)', () => {
    expect(ovos?.startupMs).toBeLessThan(30_000)
  })

  it('answers "hello world" with a speak from the hello-world skill', async () => {
    const since = say(listener, 'hello world')
    const speak = await listener.waitFor('hello-world speak', spokenBy(HELLO_WORLD), ANSWER_MS, { since })
    expect(speak.data).toMatchObject({ utterance: 'Hello world', lang: 'en-US', meta: { dialog: 'hello.world', skill: HELLO_WORLD } })
    expect(speak.context).toMatchObject({ source: ['skills'], destination: 'audio', skill_id: HELLO_WORLD, session: { session_id: 'default' } })
    await listener.waitFor('ovos.utterance.handled', ofType('ovos.utterance.handled'), ANSWER_MS, { since })
  })

  it('answers an utterance nobody understands with fallback-unknown, as in the fixture', async () => {
    const since = say(listener, 'tell me a fact about nothing')
    const speak = await listener.waitFor('fallback-unknown speak', spokenBy(FALLBACK_UNKNOWN), ANSWER_MS, { since })
    expect(speak.data.meta).toMatchObject({ skill: FALLBACK_UNKNOWN })
    await listener.waitFor('ovos.utterance.handled', ofType('ovos.utterance.handled'), ANSWER_MS, { since })
    expect(typesUntil(listener, since, ofType('ovos.utterance.handled'))).toEqual([
      'recognizer_loop:utterance',
      'ovos.skills.fallback.ping',
      'ovos.skills.fallback.pong',
      `ovos.skills.fallback.${FALLBACK_UNKNOWN}.request`,
      `ovos.skills.fallback.${FALLBACK_UNKNOWN}.start`,
      'speak',
      `ovos.skills.fallback.${FALLBACK_UNKNOWN}.response`,
      'ovos.utterance.handled'
    ])
  })

  it('keeps a custom context key of the utterance on everything it causes, the speak included', async () => {
    const mesh = { tag: 'ask-1', from: 'kitchen' }
    const since = say(listener, 'hello world', { mesh })
    await listener.waitFor('ovos.utterance.handled', ofType('ovos.utterance.handled'), ANSWER_MS, { since })
    // audio_output_* come from the helper's stand-in, maybe still for the previous test's speak
    const caused = listener.messages.slice(since + 1).filter(message => !message.type.startsWith('recognizer_loop:audio_output_'))
    expect(caused.find(spokenBy(HELLO_WORLD))?.context.mesh).toEqual(mesh)
    for (const message of caused.slice(0, caused.findIndex(ofType('ovos.utterance.handled')) + 1)) {
      expect(message.context.mesh, message.type).toEqual(mesh)
    }
  })

  it('ends an unknown utterance in complete_intent_failure for a session that blacklists fallback-unknown', async () => {
    const session = { session_id: 'mesh-child-kitchen', blacklisted_skills: [FALLBACK_UNKNOWN] }
    const since = say(listener, 'what is the capital of atlantis', { session, mesh: { tag: 'ask-2' } })
    const failure = await listener.waitFor('complete_intent_failure', inSession(session.session_id, ofType('complete_intent_failure')), ANSWER_MS, { since })
    expect(failure.data).toMatchObject({ utterances: ['what is the capital of atlantis'], lang: 'en-US' })
    expect(failure.context.mesh).toEqual({ tag: 'ask-2' })
    await listener.waitFor('ovos.utterance.handled', inSession(session.session_id, ofType('ovos.utterance.handled')), ANSWER_MS, { since })
    expect(typesUntil(listener, since, ofType('ovos.utterance.handled'))).toEqual([
      'recognizer_loop:utterance', 'mycroft.audio.play_sound', 'complete_intent_failure', 'ovos.utterance.handled'
    ])
  })

  it('answers in a non-default session, and a speak(wait=True) skill finishes once audio_output_end comes for that session', async () => {
    const session = { session_id: 'mesh-child-mirror', blacklisted_skills: [FALLBACK_UNKNOWN] }
    const since = say(listener, 'hello world', { session, mesh: { tag: 'ask-3' } })
    const speak = await listener.waitFor('hello-world speak', inSession(session.session_id, spokenBy(HELLO_WORLD)), ANSWER_MS, { since })
    expect(speak.context.mesh).toEqual({ tag: 'ask-3' })
    // hello-world speaks with wait=True and blocks 15 s unless this session's audio reports the end of speech;
    // ovos-audio does not for sessions it does not play, so the asker has to.
    const started = Date.now()
    listener.forward(speak, 'recognizer_loop:audio_output_end')
    await listener.waitFor('ovos.utterance.handled', inSession(session.session_id, ofType('ovos.utterance.handled')), ANSWER_MS, { since })
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('pings each skill active in the default session before the pipeline, waiting 0.5 s for a skill that is not conversational', async () => {
    let since = say(listener, 'hello world')
    await listener.waitFor('ovos.utterance.handled', ofType('ovos.utterance.handled'), ANSWER_MS, { since })
    since = say(listener, 'how old is the wind')
    await listener.waitFor('ovos.utterance.handled', ofType('ovos.utterance.handled'), ANSWER_MS, { since })
    expect(listener.messages.slice(since).some(ofType(`${HELLO_WORLD}.converse.ping`))).toBe(true)
    expect(listener.messages.slice(since).some(ofType('skill.converse.pong'))).toBe(false)
    expect(gapMs(listener, since, ofType(`${HELLO_WORLD}.converse.ping`), ofType('ovos.skills.fallback.ping'))).toBeGreaterThanOrEqual(490)

    // another session carries its own state in the message: no active skills sent, none pinged
    since = say(listener, 'how old is the wind', { session: { session_id: 'mesh-child-attic' } })
    await listener.waitFor('ovos.utterance.handled', ofType('ovos.utterance.handled'), ANSWER_MS, { since })
    expect(listener.messages.slice(since).some(message => message.type.endsWith('.converse.ping'))).toBe(false)
  })

  describe('a fallback registered over the bus by a plain websocket client (the mesh bridge)', () => {
    let bridge: BusProbe
    let canHandle = true
    let stopPonging: () => void

    beforeAll(async () => {
      bridge = await BusProbe.connect((ovos as OvosInstance).busUrl)
      stopPonging = bridge.on('ovos.skills.fallback.ping', ping => {
        bridge.reply(ping, 'ovos.skills.fallback.pong', { skill_id: BRIDGE, can_handle: canHandle }, { skill_id: BRIDGE })
      })
      bridge.emit({ type: 'ovos.skills.fallback.register', data: { skill_id: BRIDGE, priority: 95 } })
      await coreHasRead(bridge)
    })

    afterAll(async () => {
      await bridge?.close()
    })

    it('gets the request for an unknown utterance ahead of fallback-unknown (95 < 100), with the utterance context', async () => {
      const mesh = { tag: 'ask-4' }
      const since = say(listener, 'how heavy is a cloud', { mesh })
      const request = await bridge.waitFor('the bridge fallback request', ofType(`ovos.skills.fallback.${BRIDGE}.request`), ANSWER_MS, { since })
      expect(request.data).toMatchObject({ skill_id: BRIDGE, utterances: ['how heavy is a cloud'], utterance: 'how heavy is a cloud', lang: 'en-US', range: [90, 101] })
      expect(request.context).toMatchObject({ mesh, source: ['skills'], destination: 'audio' })

      bridge.forward(request, `ovos.skills.fallback.${BRIDGE}.start`)
      bridge.forward(request, 'speak', { utterance: 'About five hundred tonnes.', expect_response: false, lang: 'en-US', meta: { skill: BRIDGE } })
      bridge.forward(request, `ovos.skills.fallback.${BRIDGE}.response`, { result: true, fallback_handler: BRIDGE })
      bridge.forward(request, 'ovos.utterance.handled')
      await listener.waitFor('ovos.utterance.handled', ofType('ovos.utterance.handled'), ANSWER_MS, { since })

      expect(typesUntil(listener, since, ofType('ovos.utterance.handled'))).toEqual([
        'recognizer_loop:utterance',
        'ovos.skills.fallback.ping',
        'ovos.skills.fallback.pong',
        'ovos.skills.fallback.pong',
        `ovos.skills.fallback.${BRIDGE}.request`,
        `ovos.skills.fallback.${BRIDGE}.start`,
        'speak',
        `ovos.skills.fallback.${BRIDGE}.response`,
        'ovos.utterance.handled'
      ])
      // core waits for a pong from every registered fallback (or 0.5 s), then picks the lowest priority number
      const pongs = listener.messages.slice(since).filter(ofType('ovos.skills.fallback.pong'))
      expect(pongs.map(pong => pong.data.skill_id).sort()).toEqual([BRIDGE, FALLBACK_UNKNOWN].sort())
      expect(listener.messages.slice(since).some(spokenBy(FALLBACK_UNKNOWN))).toBe(false)
    })

    it('hands an utterance it claimed on to fallback-unknown by emitting that skill\'s request with the same data and context', async () => {
      const since = say(listener, 'how loud is a rainbow', { mesh: { tag: 'ask-5' } })
      const request = await bridge.waitFor('the bridge fallback request', ofType(`ovos.skills.fallback.${BRIDGE}.request`), ANSWER_MS, { since })
      bridge.emit({ type: `ovos.skills.fallback.${FALLBACK_UNKNOWN}.request`, data: { ...request.data, skill_id: FALLBACK_UNKNOWN }, context: request.context })
      const speak = await listener.waitFor('fallback-unknown speak', spokenBy(FALLBACK_UNKNOWN), ANSWER_MS, { since })
      expect(speak.context.mesh).toEqual({ tag: 'ask-5' })
      await listener.waitFor('ovos.utterance.handled', ofType('ovos.utterance.handled'), ANSWER_MS, { since })
      expect(listener.messages.slice(since).filter(spokenBy(FALLBACK_UNKNOWN))).toHaveLength(1)
    })

    it('is not asked, nor is fallback-unknown, for a session that blacklists both: complete_intent_failure', async () => {
      const session = { session_id: 'mesh-child-hall', blacklisted_skills: [FALLBACK_UNKNOWN, BRIDGE] }
      const since = say(listener, 'how deep is a shadow', { session })
      await listener.waitFor('ovos.utterance.handled', inSession(session.session_id, ofType('ovos.utterance.handled')), ANSWER_MS, { since })
      expect(typesUntil(listener, since, ofType('ovos.utterance.handled'))).toEqual([
        'recognizer_loop:utterance', 'mycroft.audio.play_sound', 'complete_intent_failure', 'ovos.utterance.handled'
      ])
    })

    it('is passed over when it pongs can_handle false', async () => {
      canHandle = false
      const since = say(listener, 'how tall is a whisper')
      await listener.waitFor('fallback-unknown speak', spokenBy(FALLBACK_UNKNOWN), ANSWER_MS, { since })
      expect(bridge.messages.slice(since).some(ofType(`ovos.skills.fallback.${BRIDGE}.request`))).toBe(false)
      canHandle = true
    })

    it('costs every unknown utterance 0.5 s while registered but silent, and nothing once deregistered', async () => {
      const unknownRequest = ofType(`ovos.skills.fallback.${FALLBACK_UNKNOWN}.request`)
      stopPonging()
      let since = say(listener, 'how tall is a whisper')
      await listener.waitFor('fallback-unknown speak', spokenBy(FALLBACK_UNKNOWN), ANSWER_MS, { since })
      expect(gapMs(listener, since, ofType('ovos.skills.fallback.ping'), unknownRequest)).toBeGreaterThanOrEqual(490)

      bridge.emit({ type: 'ovos.skills.fallback.deregister', data: { skill_id: BRIDGE } })
      await coreHasRead(bridge)
      since = say(listener, 'how wide is a sigh')
      await listener.waitFor('fallback-unknown speak', spokenBy(FALLBACK_UNKNOWN), ANSWER_MS, { since })
      expect(gapMs(listener, since, ofType('ovos.skills.fallback.ping'), unknownRequest)).toBeLessThan(400)
    })
  })
})

describe.skipIf(python === null)('two real OVOS instances side by side: a child and a parent', () => {
  let child: OvosInstance | undefined
  let parent: OvosInstance | undefined
  const probes: BusProbe[] = []

  beforeAll(async () => {
    const venv = await ovosVenv()
    if (venv === null) throw new Error(OVOS_SKIP_MESSAGE)
    const started = await Promise.allSettled([
      OvosInstance.start({ venv, name: 'child', skills: [FALLBACK_UNKNOWN] }),
      OvosInstance.start({ venv, name: 'parent', skills: [HELLO_WORLD] })
    ])
    child = started[0].status === 'fulfilled' ? started[0].value : undefined
    parent = started[1].status === 'fulfilled' ? started[1].value : undefined
    for (const result of started) if (result.status === 'rejected') throw result.reason
  }, VENV_TIMEOUT_MS)

  afterAll(async () => {
    await Promise.all(probes.map(async probe => probe.close()))
    await Promise.all([child?.stop(), parent?.stop()])
  })

  it('each answers only with its own skills, on its own port', async () => {
    const childBus = await BusProbe.connect((child as OvosInstance).busUrl)
    const parentBus = await BusProbe.connect((parent as OvosInstance).busUrl)
    probes.push(childBus, parentBus)
    expect(child?.port).not.toBe(parent?.port)

    let since = say(childBus, 'hello world')
    await childBus.waitFor('child: fallback-unknown speak', spokenBy(FALLBACK_UNKNOWN), ANSWER_MS, { since })

    since = say(parentBus, 'tell me a fact about nothing')
    await parentBus.waitFor('parent: complete_intent_failure', ofType('complete_intent_failure'), ANSWER_MS, { since })

    since = say(parentBus, 'hello world')
    await parentBus.waitFor('parent: hello-world speak', spokenBy(HELLO_WORLD), ANSWER_MS, { since })

    expect(childBus.messages.some(spokenBy(HELLO_WORLD))).toBe(false)
    expect(parentBus.messages.some(spokenBy(FALLBACK_UNKNOWN))).toBe(false)
    expect(childBus.messages.some(message => message.type === 'recognizer_loop:utterance' &&
      (message.data.utterances as string[])[0] === 'tell me a fact about nothing')).toBe(false)
  })
})
