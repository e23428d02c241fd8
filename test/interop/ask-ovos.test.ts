/**
 * The ask flow between two real OVOS cores from PyPI: a child whose core has only fallback-unknown, and a parent
 * whose core has hello-world (and fallback-unknown, which the child's session leaves out). Each core has a real
 * mycroft-mesh node bridged to its bus. Needs Python 3.10+; see scripts/ovos/README.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BusProbe } from '../../support/bus-probe.ts'
import { Homes, NodeProcess } from '../../support/node-process.ts'
import { FALLBACK_UNKNOWN, HELLO_WORLD, LISTENER_CONTEXT, OVOS_SKIP_MESSAGE, OvosInstance, ovosVenv, pythonOrSkip, spokenBy } from '../../support/ovos.ts'
import { waitFor } from '../../support/wait.ts'

const python = pythonOrSkip()

const SETUP_TIMEOUT_MS = 15 * 60_000
const ANSWER_MS = 20_000


describe.skipIf(python === null)('the ask flow between two real OVOS cores', () => {
  const homes = new Homes()
  let childCore: OvosInstance | undefined
  let parentCore: OvosInstance | undefined
  let parentNode: NodeProcess | undefined
  let childNode: NodeProcess | undefined
  let childBus: BusProbe
  let parentBus: BusProbe

  beforeAll(async () => {
    const venv = await ovosVenv()
    if (venv === null) throw new Error(OVOS_SKIP_MESSAGE)
    const started = await Promise.allSettled([
      OvosInstance.start({ venv, name: 'child', skills: [FALLBACK_UNKNOWN] }),
      OvosInstance.start({ venv, name: 'parent', skills: [HELLO_WORLD, FALLBACK_UNKNOWN] })
    ])
    childCore = started[0].status === 'fulfilled' ? started[0].value : undefined
    parentCore = started[1].status === 'fulfilled' ? started[1].value : undefined
    for (const result of started) if (result.status === 'rejected') throw result.reason

    parentNode = await new NodeProcess({ home: await homes.make('mm-parent-'), name: 'brain', bus: parentCore?.busUrl }).start()
    childNode = await new NodeProcess({ home: await homes.make('mm-child-'), name: 'kitchen', bus: childCore?.busUrl, parent: await parentNode.addr() }).start()
    await waitFor('the kitchen to link', async () => (await childNode?.status())?.parent.state === 'linked')
    childBus = await BusProbe.connect(childCore?.busUrl ?? '')
    parentBus = await BusProbe.connect(parentCore?.busUrl ?? '')
  }, SETUP_TIMEOUT_MS)

  afterAll(async () => {
    await Promise.all([childBus?.close(), parentBus?.close()])
    await Promise.all([childNode?.kill(), parentNode?.kill()])
    await Promise.all([childCore?.stop(), parentCore?.stop()])
    await homes.cleanup()
  })

  it('the child\'s core hands an utterance it cannot handle to the bridge, and the parent\'s hello-world answers on the child\'s bus', async () => {
    const since = childBus.mark
    childBus.emit({ type: 'recognizer_loop:utterance', data: { utterances: ['hello world'], lang: 'en-US' }, context: LISTENER_CONTEXT })

    await childBus.waitFor('the child core\'s request to the bridge', message => message.type === 'ovos.skills.fallback.mycroft-mesh.bridge.request', ANSWER_MS, { since })
    const parentSpeak = await parentBus.waitFor('hello-world speaking on the parent\'s bus', spokenBy(HELLO_WORLD), ANSWER_MS)
    const childSpeak = await childBus.waitFor('the answer on the child\'s bus', message => message.type === 'speak' && message.context.skill_id === 'mycroft-mesh.bridge', ANSWER_MS, { since })
    await childBus.waitFor('the child\'s utterance handled', message => message.type === 'ovos.utterance.handled', ANSWER_MS, { since })

    expect(childSpeak.data.utterance).toBe(parentSpeak.data.utterance)
    expect(childSpeak.data.meta).toMatchObject({ answered_by: 'brain' })
    // the parent answered in a session of the child's own: its default session, and so its speakers, stayed out
    expect((parentSpeak.context.session as { session_id?: string }).session_id).toMatch(/^mesh-kitchen-/)
    // on the child's bus it is spoken in the default session, so the child's own audio plays it
    expect((childSpeak.context.session as { session_id?: string }).session_id).toBe('default')
    // the child's own "I don't know" stayed silent
    expect(childBus.messages.slice(since).some(spokenBy(FALLBACK_UNKNOWN))).toBe(false)
    const status = await childNode?.status()
    expect(status?.asks).toMatchObject({ asksSent: 1, answered: 1 })
    expect((await parentNode?.status())?.asks).toMatchObject({ asksFromChildren: 1, answeredForChildren: 1 })
  })

  it('with the parent gone, the child\'s own fallback-unknown answers', async () => {
    await parentNode?.kill()
    await waitFor('the kitchen to notice', async () => (await childNode?.status())?.parent.state === 'connecting')

    const since = childBus.mark
    childBus.emit({ type: 'recognizer_loop:utterance', data: { utterances: ['hello world'], lang: 'en-US' }, context: LISTENER_CONTEXT })

    await childBus.waitFor('fallback-unknown speaking on the child\'s bus', spokenBy(FALLBACK_UNKNOWN), ANSWER_MS, { since })
    const pong = childBus.messages.slice(since).find(message => message.type === 'ovos.skills.fallback.pong' && message.data.skill_id === 'mycroft-mesh.bridge')
    expect(pong?.data.can_handle).toBe(false)
    expect(childBus.messages.slice(since).some(message => message.type === 'ovos.skills.fallback.mycroft-mesh.bridge.request')).toBe(false)
  })
})
