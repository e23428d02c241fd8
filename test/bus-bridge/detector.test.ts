import { readFileSync } from 'node:fs'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { BusClient, EmbeddedBus, UnhandledDetector, defaultDetectorOptions, type DetectorOptions, type Unhandled } from '../../src/bus-bridge/index.ts'

const utterancesOf = (message: BusMessage | undefined): unknown => message?.data.utterances
import { BusProbe, type BusMessage } from '../../support/bus-probe.ts'
import { waitFor } from '../../support/wait.ts'

const log = pino({ level: 'silent' })
const fixture = (name: string, folder = 'ovos'): BusMessage[] => readFileSync(new URL(`../fixtures/${folder}/${name}`, import.meta.url), 'utf8')
  .split('\n').filter(line => line.trim() !== '').map(line => JSON.parse(line) as BusMessage)

interface Rig {
  bus: EmbeddedBus
  client: BusClient
  probe: BusProbe
  detector: UnhandledDetector
  unhandled: Unhandled[]
  linked: { value: boolean }
}

const rigs: Rig[] = []

afterEach(async () => {
  for (const rig of rigs.splice(0)) {
    rig.detector.stop()
    await rig.probe.close()
    await rig.client.stop()
    await rig.bus.stop()
  }
})

/** A real embedded bus with the detector's real client on it, and a probe that plays the assistant's part. */
async function rig (options: Partial<DetectorOptions> = {}): Promise<Rig> {
  const bus = new EmbeddedBus({ port: 0, log })
  await bus.start()
  const probe = await BusProbe.connect(bus.url)
  const client = new BusClient({ url: bus.url, log })
  const unhandled: Unhandled[] = []
  const linked = { value: true }
  const detector = new UnhandledDetector({
    bus: client,
    options: { ...defaultDetectorOptions(), ...options },
    log,
    canAsk: () => linked.value,
    onUnhandled: u => { unhandled.push(u) }
  })
  detector.start()
  client.start()
  await waitFor('the detector to connect', () => client.state === 'connected')
  const made = { bus, client, probe, detector, unhandled, linked }
  rigs.push(made)
  return made
}

/** Plays messages onto the bus and waits until the detector's client has seen every one of them. */
async function replay (r: Rig, messages: BusMessage[]): Promise<void> {
  const before = r.client.counters.received
  for (const message of messages) r.probe.emit(message)
  await waitFor('the detector to receive the replay', () => r.client.counters.received >= before + messages.length)
}

const bridgeMessages = (r: Rig, type: string): BusMessage[] => r.probe.of(type).filter(m => m.context.skill_id === 'mycroft-mesh.bridge' || m.data.skill_id === 'mycroft-mesh.bridge')

describe('the unhandled-utterance detector on real OVOS traces', () => {
  it('registers as a fallback skill below the stock "I don\'t know", and again when core says it is ready', async () => {
    const r = await rig()
    await r.probe.waitFor('the registration', m => m.type === 'ovos.skills.fallback.register')
    r.probe.emit({ type: 'mycroft.ready', data: {}, context: {} })
    await waitFor('a second registration', () => r.probe.of('ovos.skills.fallback.register').length === 2)
    expect(r.probe.of('ovos.skills.fallback.register')[0]?.data).toEqual({ skill_id: 'mycroft-mesh.bridge', priority: 95 })
  })

  it('fallback-unknown trace: claims the ping while a parent is linked, and asks nothing when another skill takes the request', async () => {
    const r = await rig()
    await replay(r, fixture('ovos-fallback-unknown.jsonl'))
    const pong = await r.probe.waitFor('our pong', m => m.type === 'ovos.skills.fallback.pong' && m.data.skill_id === 'mycroft-mesh.bridge')
    expect(pong.data.can_handle).toBe(true)
    // the pong answers the ping in its own session
    expect(pong.context.session).toMatchObject({ session_id: 'default' })
    expect(r.unhandled).toEqual([])
  })

  it('does not claim the ping while no parent is linked', async () => {
    const r = await rig()
    r.linked.value = false
    await replay(r, fixture('ovos-fallback-unknown.jsonl'))
    const pong = await r.probe.waitFor('our pong', m => m.type === 'ovos.skills.fallback.pong' && m.data.skill_id === 'mycroft-mesh.bridge')
    expect(pong.data.can_handle).toBe(false)
  })

  it('complete-failure trace: the classic signal asks about the failed utterance', async () => {
    const r = await rig()
    await replay(r, fixture('ovos-core-complete-failure.jsonl'))
    await waitFor('the unhandled utterance', () => r.unhandled.length === 1)
    expect(r.unhandled[0]).toMatchObject({ signal: 'classic', utterances: ['what is the capital of atlantis'], lang: 'en-US' })
  })

  it('classic Mycroft 21.x: an empty complete_intent_failure is matched to the oldest utterance pending', async () => {
    const r = await rig()
    const [, utterance] = fixture('ovos-core-complete-failure.jsonl')
    if (utterance === undefined) throw new Error('fixture is empty')
    await replay(r, [utterance, { type: 'complete_intent_failure', data: {}, context: {} }])
    await waitFor('the unhandled utterance', () => r.unhandled.length === 1)
    expect(r.unhandled[0]?.utterances).toEqual(['what is the capital of atlantis'])
  })

  it('classic signals can be switched off', async () => {
    const r = await rig({ classic: false, safetyNetMs: 0 })
    await replay(r, fixture('ovos-core-complete-failure.jsonl'))
    expect(r.unhandled).toEqual([])
  })

  it('the safety net asks when nothing handles an utterance in time, and speaks the answer to the listener', async () => {
    const r = await rig({ safetyNetMs: 300 })
    const [, utterance] = fixture('ovos-core-complete-failure.jsonl')
    if (utterance === undefined) throw new Error('fixture is empty')
    await replay(r, [utterance])
    await waitFor('the safety net', () => r.unhandled.length === 1)
    const claimed = r.unhandled[0]
    expect(claimed?.signal).toBe('safety-net')
    claimed?.answer([{ utterance: 'Nobody has found it yet.' }], 'brain')
    const speak = await r.probe.waitFor('the answer', m => m.type === 'speak')
    expect(speak.data.utterance).toBe('Nobody has found it yet.')
    expect(speak.context.destination).toBe('audio')
  })

  it('an utterance that is handled in time is not asked about', async () => {
    const r = await rig({ safetyNetMs: 300, classic: false })
    const trace = fixture('ovos-fallback-unknown.jsonl')
    await replay(r, trace)
    // a second utterance after the first was handled: its own timer is the one that must fire
    const [, utterance] = trace
    if (utterance === undefined) throw new Error('fixture is empty')
    await replay(r, [{ ...utterance, data: { utterances: ['second'], lang: 'en-US' } }])
    await waitFor('the second utterance\'s safety net', () => r.unhandled.length === 1)
    expect(r.unhandled.map(u => u.utterances)).toEqual([['second']])
  })

  it('a fallback request for the bridge: start, the mesh\'s speak in the local session, response and handled', async () => {
    const r = await rig()
    const trace = fixture('ovos-fallback-unknown.jsonl')
    const request = trace.find(m => m.type.endsWith('.request'))
    if (request === undefined) throw new Error('fixture has no request')
    await replay(r, [{ ...request, type: 'ovos.skills.fallback.mycroft-mesh.bridge.request', data: { ...request.data, skill_id: 'mycroft-mesh.bridge' } }])
    await waitFor('the claim', () => r.unhandled.length === 1)
    expect(r.unhandled[0]?.signal).toBe('fallback')
    await r.probe.waitFor('the start', m => m.type === 'ovos.skills.fallback.mycroft-mesh.bridge.start')

    r.unhandled[0]?.answer([{ utterance: 'Nothing is a fact.' }], 'brain')
    await r.probe.waitFor('handled', m => m.type === 'ovos.utterance.handled')
    const speak = r.probe.of('speak')[0]
    expect(speak?.data).toMatchObject({ utterance: 'Nothing is a fact.', meta: { answered_by: 'brain' } })
    expect(speak?.context.session).toMatchObject({ session_id: 'default' })
    expect(bridgeMessages(r, 'ovos.skills.fallback.mycroft-mesh.bridge.response')[0]?.data).toMatchObject({ result: true })
  })

  it('with no answer from the mesh, the request goes on to the next fallback that said it can handle it', async () => {
    const r = await rig()
    const trace = fixture('ovos-fallback-unknown.jsonl')
    const upToPong = trace.slice(0, trace.findIndex(m => m.type === 'ovos.skills.fallback.pong') + 1)
    const request = trace.find(m => m.type.endsWith('.request'))
    if (request === undefined) throw new Error('fixture has no request')
    await replay(r, [
      { type: 'ovos.skills.fallback.register', data: { skill_id: 'ovos-skill-fallback-unknown.openvoiceos', priority: 100 }, context: {} },
      ...upToPong,
      { ...request, type: 'ovos.skills.fallback.mycroft-mesh.bridge.request', data: { ...request.data, skill_id: 'mycroft-mesh.bridge' } }
    ])
    await waitFor('the claim', () => r.unhandled.length === 1)
    r.unhandled[0]?.giveBack()
    const handedOn = await r.probe.waitFor('the hand-over', m => m.type === 'ovos.skills.fallback.ovos-skill-fallback-unknown.openvoiceos.request')
    expect(handedOn.data).toMatchObject({ skill_id: 'ovos-skill-fallback-unknown.openvoiceos', utterances: ['tell me a fact about nothing'] })
    expect(handedOn.context.session).toMatchObject({ session_id: 'default' })
    expect(bridgeMessages(r, 'ovos.skills.fallback.mycroft-mesh.bridge.response')[0]?.data).toMatchObject({ result: false })
    // settling twice does nothing
    const sent = r.client.counters.sent
    r.unhandled[0]?.answer([{ utterance: 'too late' }], 'brain')
    expect(r.client.counters.sent).toBe(sent)
  })

  describe.each(['v20.2', 'v20.8', 'v21.2'])('classic Mycroft %s, each whole sequence (traces read from mycroft-core\'s release tags)', version => {
    const classic = (scenario: string): BusMessage[] => fixture(`${version}-${scenario}.jsonl`, 'mycroft-classic')
    const marker: BusMessage = { type: 'recognizer_loop:utterance', data: { utterances: ['marker'], lang: 'en-US' }, context: { client_name: 'mycroft_listener', source: 'audio', destination: ['skills'] } }

    /** Replays a trace, then a marker utterance nothing handles: once the marker's safety net fires, the trace is judged. */
    async function judged (scenario: string): Promise<Unhandled[]> {
      const r = await rig({ fallback: false, safetyNetMs: 400 })
      await replay(r, classic(scenario))
      await replay(r, [marker])
      await waitFor('the marker\'s safety net', () => r.unhandled.some(u => u.utterances[0] === 'marker'))
      return r.unhandled
    }

    it('a miss: asked about once, by the classic signal, with the utterance it missed', async () => {
      const [utterance] = classic('miss')
      const claimed = await judged('miss')
      expect(claimed.map(u => [u.signal, u.utterances])).toEqual([['classic', utterancesOf(utterance)], ['safety-net', ['marker']]])
    })

    it.each(['intent-hit', 'padatious-hit', 'fallback-hit', 'fallback-unknown'])('%s: never asked about', async scenario => {
      const claimed = await judged(scenario)
      expect(claimed.map(u => u.utterances)).toEqual([['marker']])
    })
  })

  it('deregisters on stop', async () => {
    const r = await rig()
    r.detector.stop()
    await r.probe.waitFor('the deregistration', m => m.type === 'ovos.skills.fallback.deregister' && m.data.skill_id === 'mycroft-mesh.bridge')
  })
})
