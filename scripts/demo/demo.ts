/**
 * `npm run demo`: a root, a house hub and a kitchen node on this machine, each with an embedded messagebus.
 * The root has a scripted stand-in assistant that knows a few answers; the kitchen has a stand-in that only
 * knows "I don't know". Questions are spoken on the kitchen bus and the conversation is printed as it happens.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BusProbe } from '../../test/helpers/bus-probe.ts'
import { NodeProcess } from '../../test/helpers/node-process.ts'
import { waitFor } from '../../test/helpers/wait.ts'
import { StandInAssistant, STAND_IN_DONT_KNOW } from './stand-in-assistant.ts'

const QUESTIONS = ['what is the speed of light', 'what is the capital of atlantis']
const ROOT_ANSWERS = {
  'what is the speed of light': 'About 300,000 kilometres per second.',
  'how far is the moon': 'About 384,000 kilometres.'
}

const started = Date.now()
const say = (who: string, text: string): void => {
  process.stdout.write(`${((Date.now() - started) / 1000).toFixed(2).padStart(6)} s  ${who.padEnd(8)} ${text}\n`)
}

function narrateBus (room: string, probe: BusProbe): void {
  probe.onMessage(message => {
    if (message.type === 'recognizer_loop:utterance') {
      const session = (message.context.session as { session_id?: string } | undefined)?.session_id ?? 'default'
      say(room, `bus: utterance "${String((message.data.utterances as string[])[0])}"${session === 'default' ? '' : ` (session ${session})`}`)
    } else if (message.type === 'speak') {
      say(room, `bus: speak "${String(message.data.utterance)}"`)
    } else if (message.type.startsWith('ovos.skills.fallback.') && message.type.endsWith('.request')) {
      say(room, `bus: fallback request to ${String(message.data.skill_id)}`)
    }
  })
}

function narrateLogs (name: string, node: NodeProcess): void {
  node.onLog(line => {
    if (/^(asking the mesh|.*answered|the mesh has no answer|linked to parent|child .* linked)/.test(line.msg)) say(name, line.msg)
  })
}

async function main (): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'mycroft-mesh-demo-'))
  const nodes: NodeProcess[] = []
  const probes: BusProbe[] = []
  const assistants: StandInAssistant[] = []
  try {
    const start = async (name: string, parent?: NodeProcess): Promise<{ node: NodeProcess, url: string }> => {
      const node = new NodeProcess({ home: join(base, name), name, bus: 'embedded:0', parent: parent === undefined ? undefined : await parent.addr(), heartbeatMs: 2_000 })
      nodes.push(node)
      narrateLogs(name, node)
      await node.start()
      const url = (await node.status()).bus.url ?? ''
      const probe = await BusProbe.connect(url)
      probes.push(probe)
      narrateBus(name, probe)
      if (parent !== undefined) await waitFor(`${name} to link`, async () => (await node.status()).parent.state === 'linked')
      return { node, url }
    }

    say('demo', 'starting root (a stand-in assistant that knows a few answers), house, and kitchen')
    const root = await start('root')
    assistants.push(await new StandInAssistant({ answers: ROOT_ANSWERS }).connect(root.url))
    const house = await start('house', root.node)
    assistants.push(await new StandInAssistant({}).connect(house.url))
    const kitchen = await start('kitchen', house.node)
    assistants.push(await new StandInAssistant({ fallbackUnknown: true }).connect(kitchen.url))
    const kitchenBus = probes[probes.length - 1] as BusProbe

    for (const question of QUESTIONS) {
      say('user', `says in the kitchen: "${question}"`)
      const before = kitchenBus.of('speak').length
      kitchenBus.say(question)
      await waitFor('the kitchen to speak', () => kitchenBus.of('speak').length > before, { timeoutMs: 20_000 })
      const spoken = String(kitchenBus.of('speak')[before]?.data.utterance)
      say('kitchen', spoken === STAND_IN_DONT_KNOW ? `speaks its own answer: "${spoken}"` : `speaks the mesh's answer: "${spoken}"`)
    }

    say('demo', 'a skill on the house hub tells the kitchen, by name, that dinner is ready')
    const houseBus = probes[1] as BusProbe
    const before = kitchenBus.of('speak').length
    houseBus.emit({ type: 'speak', data: { utterance: 'Dinner is ready.', lang: 'en-US' }, context: { source: 'skills', destination: 'kitchen' } })
    await waitFor('the kitchen to speak', () => kitchenBus.of('speak').length > before)

    const status = await kitchen.node.status()
    say('demo', `kitchen counters: ${JSON.stringify(status.asks)}`)
  } finally {
    await Promise.all(probes.map(async probe => probe.close()))
    for (const assistant of assistants) assistant.close()
    await Promise.all(nodes.map(async node => node.stop()))
    await rm(base, { recursive: true, force: true })
  }
}

main().then(() => { process.exit(0) }, (err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
