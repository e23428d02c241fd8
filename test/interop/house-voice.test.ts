/**
 * The house by voice, between two real OVOS cores from PyPI: the living room's core has this repository's skill
 * (skills/ovos-skill-mycroft-mesh, installed into the venv by the test), the kitchen's has hello-world. Each core has a
 * real mycroft-mesh node bridged to its bus; both hang under a hall, the top of the house. Words as the real listener
 * emits them in the living room are spoken in the kitchen. Needs Python 3.10+; see scripts/ovos/README.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BusProbe } from '../../support/bus-probe.ts'
import { Homes, NodeProcess, runCli } from '../../support/node-process.ts'
import { FALLBACK_UNKNOWN, HELLO_WORLD, installMeshSkill, MESH_SKILL, LISTENER_CONTEXT, OVOS_SKIP_MESSAGE, OvosInstance, ovosVenv, pythonOrSkip, spokenBy } from '../../support/ovos.ts'
import { waitFor } from '../../support/wait.ts'

const python = pythonOrSkip()

const SETUP_TIMEOUT_MS = 15 * 60_000
const ANSWER_MS = 20_000


describe.skipIf(python === null)('the house by voice, on real OVOS', () => {
  const homes = new Homes()
  let livingCore: OvosInstance | undefined
  let kitchenCore: OvosInstance | undefined
  const nodes: NodeProcess[] = []
  let livingBus: BusProbe
  let kitchenBus: BusProbe

  beforeAll(async () => {
    const venv = await ovosVenv()
    if (venv === null) throw new Error(OVOS_SKIP_MESSAGE)
    await installMeshSkill(venv)
    const started = await Promise.allSettled([
      OvosInstance.start({ venv, name: 'living', skills: [MESH_SKILL, FALLBACK_UNKNOWN] }),
      OvosInstance.start({ venv, name: 'kitchen', skills: [HELLO_WORLD, FALLBACK_UNKNOWN] })
    ])
    livingCore = started[0].status === 'fulfilled' ? started[0].value : undefined
    kitchenCore = started[1].status === 'fulfilled' ? started[1].value : undefined
    for (const result of started) if (result.status === 'rejected') throw result.reason

    const hall = await new NodeProcess({ home: await homes.make('mm-hall-'), name: 'hall', extraArgs: ['--hub'] }).start()
    nodes.push(hall)
    for (const [name, core] of [['living room', livingCore], ['kitchen', kitchenCore]] as const) {
      const room = await new NodeProcess({ home: await homes.make('mm-room-'), name, bus: core?.busUrl, parent: await hall.addr() }).start()
      nodes.push(room)
      await waitFor(`${name} to link`, async () => (await room.status()).parent.state === 'linked')
    }
    await waitFor('the hall to know both rooms', async () => (JSON.parse((await runCli(['rooms', '--home', hall.home, '--json'])).stdout) as unknown[]).length === 3)
    livingBus = await BusProbe.connect(livingCore?.busUrl ?? '')
    kitchenBus = await BusProbe.connect(kitchenCore?.busUrl ?? '')
  }, SETUP_TIMEOUT_MS)

  afterAll(async () => {
    await Promise.all([livingBus?.close(), kitchenBus?.close()])
    await Promise.all(nodes.map(async node => node.kill()))
    await Promise.all([livingCore?.stop(), kitchenCore?.stop()])
    await homes.cleanup()
  })

  it('"tell the kitchen dinner is ready", said in the living room, is spoken in the kitchen; the living room confirms', async () => {
    const since = { living: livingBus.mark, kitchen: kitchenBus.mark }
    livingBus.emit({ type: 'recognizer_loop:utterance', data: { utterances: ['tell the kitchen dinner is ready'], lang: 'en-US' }, context: LISTENER_CONTEXT })
    const heard = await kitchenBus.waitFor('the kitchen to speak it', message => message.type === 'speak' && message.data.utterance === 'dinner is ready', ANSWER_MS, { since: since.kitchen })
    expect(heard.context.mesh).toMatchObject({ from: 'living room' })
    expect((heard.context.session as { session_id?: string }).session_id).toBe('default')
    const confirmed = await livingBus.waitFor('the living room to confirm', spokenBy(MESH_SKILL), ANSWER_MS, { since: since.living })
    expect(confirmed.data.utterance).toBe('I told the kitchen.')
    expect(livingBus.messages.slice(since.living).some(spokenBy(FALLBACK_UNKNOWN))).toBe(false)
  })

  it('"which rooms are there" names every room of the house', async () => {
    const since = livingBus.mark
    livingBus.emit({ type: 'recognizer_loop:utterance', data: { utterances: ['which rooms are there'], lang: 'en-US' }, context: LISTENER_CONTEXT })
    const listed = await livingBus.waitFor('the rooms', spokenBy(MESH_SKILL), ANSWER_MS, { since })
    expect(listed.data.utterance).toBe('The rooms are hall, living room and kitchen.')
  })

  it('"ask the kitchen hello world": the kitchen\'s hello-world answers, and the answer is spoken in the living room', async () => {
    const since = { living: livingBus.mark, kitchen: kitchenBus.mark }
    livingBus.emit({ type: 'recognizer_loop:utterance', data: { utterances: ['ask the kitchen hello world'], lang: 'en-US' }, context: LISTENER_CONTEXT })
    const kitchenSpeak = await kitchenBus.waitFor('hello-world in the kitchen', spokenBy(HELLO_WORLD), ANSWER_MS, { since: since.kitchen })
    expect((kitchenSpeak.context.session as { session_id?: string }).session_id).toMatch(/^mesh-living room-/)
    const answer = await livingBus.waitFor('the answer in the living room', message => message.type === 'speak' && message.data.utterance === kitchenSpeak.data.utterance, ANSWER_MS, { since: since.living })
    expect((answer.context.session as { session_id?: string } | undefined)?.session_id ?? 'default').toBe('default')
  })
})
