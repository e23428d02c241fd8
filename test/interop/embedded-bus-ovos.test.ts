/**
 * The node as the house's messagebus: the real ovos-core from PyPI runs on the node's embedded bus, with no
 * ovos-messagebus at all, answers as on its own bus, and through it answers a child's question. Needs Python
 * 3.10+; see scripts/ovos/README.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BusProbe } from '../../support/bus-probe.ts'
import { Homes, NodeProcess } from '../../support/node-process.ts'
import { FALLBACK_UNKNOWN, HELLO_WORLD, LISTENER_CONTEXT, OVOS_SKIP_MESSAGE, OvosInstance, ovosVenv, pythonOrSkip, spokenBy } from '../../support/ovos.ts'
import { freePort } from '../../support/ports.ts'
import { waitFor } from '../../support/wait.ts'

const python = pythonOrSkip()

const SETUP_TIMEOUT_MS = 15 * 60_000
const ANSWER_MS = 20_000


describe.skipIf(python === null)('real ovos-core on the node\'s embedded bus', () => {
  const homes = new Homes()
  let core: OvosInstance | undefined
  let brain: NodeProcess | undefined
  let kitchen: NodeProcess | undefined
  let brainBus: BusProbe
  let kitchenBus: BusProbe

  beforeAll(async () => {
    const venv = await ovosVenv()
    if (venv === null) throw new Error(OVOS_SKIP_MESSAGE)
    const port = await freePort()
    brain = await new NodeProcess({ home: await homes.make('mm-brain-'), name: 'brain', bus: `embedded:${port}` }).start()
    core = await OvosInstance.start({ venv, name: 'brain', skills: [HELLO_WORLD, FALLBACK_UNKNOWN], port, onExistingBus: true })
    brainBus = await BusProbe.connect(core.busUrl)
    kitchen = await new NodeProcess({ home: await homes.make('mm-kitchen-'), name: 'kitchen', bus: 'embedded:0', parent: await brain.addr(), extraArgs: ['--safety-net-ms', '300'] }).start()
    await waitFor('the kitchen to link', async () => (await kitchen?.status())?.parent.state === 'linked')
    kitchenBus = await BusProbe.connect((await kitchen.status()).bus.url ?? '')
  }, SETUP_TIMEOUT_MS)

  afterAll(async () => {
    await Promise.all([brainBus?.close(), kitchenBus?.close()])
    await core?.stop()
    await Promise.all([kitchen?.kill(), brain?.kill()])
    await homes.cleanup()
  })

  it('core loads its skills and answers the listener\'s utterance as on ovos-messagebus, beside the node\'s bridge', async () => {
    const since = brainBus.mark
    brainBus.emit({ type: 'recognizer_loop:utterance', data: { utterances: ['hello world'], lang: 'en-US' }, context: LISTENER_CONTEXT })
    const speak = await brainBus.waitFor('hello-world to answer', spokenBy(HELLO_WORLD), ANSWER_MS, { since })
    expect((speak.context.session as { session_id?: string }).session_id).toBe('default')
    await brainBus.waitFor('the utterance handled', message => message.type === 'ovos.utterance.handled', ANSWER_MS, { since })
    // core is a client of the node's bus: the node, the test's stand-ins, the probe and core itself
    expect((await brain?.status())?.bus).toMatchObject({ mode: 'embedded', state: 'connected' })
    expect((await brain?.status())?.bus.clients).toBeGreaterThanOrEqual(3)
  })

  it('a child\'s question is answered by that core, through the node it runs on', async () => {
    const since = kitchenBus.mark
    kitchenBus.say('hello world')
    const answer = await kitchenBus.waitFor('the answer on the kitchen\'s bus', message => message.type === 'speak', ANSWER_MS, { since })
    expect(answer.data.meta).toMatchObject({ answered_by: 'brain' })
    expect(String(answer.data.utterance)).not.toBe('')
    expect((await brain?.status())?.asks).toMatchObject({ asksFromChildren: 1, answeredForChildren: 1 })
  })
})
