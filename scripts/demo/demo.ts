/**
 * `npm run demo`: a root, a house hub and a kitchen node on this machine, each with an embedded messagebus.
 * The root has a scripted stand-in assistant that knows a few answers; the kitchen has a stand-in that only
 * knows "I don't know". Questions are spoken on the kitchen bus and the conversation is printed as it happens.
 *
 * `npm run demo -- --ovos`: the root and the kitchen run the real OVOS core from PyPI instead (the root with
 * hello-world, the kitchen with fallback-unknown only); needs Python 3.10+, and builds .cache/ovos-venv once.
 *
 * `npm run demo -- --vision`: a computational server: a picture travels with a question, answers come back.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BusProbe } from '../../support/bus-probe.ts'
import { NodeProcess } from '../../support/node-process.ts'
import { FALLBACK_UNKNOWN, HELLO_WORLD, OVOS_SKIP_MESSAGE, OvosInstance, ovosVenv } from '../../support/ovos.ts'
import { waitFor } from '../../support/wait.ts'
import { StandInAssistant } from '../../support/stand-in-assistant.ts'

const withOvos = process.argv.includes('--ovos')
const withVision = process.argv.includes('--vision')
const QUESTIONS = withOvos ? ['hello world', 'what is the capital of atlantis'] : ['what is the speed of light', 'what is the capital of atlantis']
const ROOT_ANSWERS = {
  'what is the speed of light': 'About 300,000 kilometres per second.',
  'how far is the moon': 'About 384,000 kilometres.'
}

/** Where a room's node finds its bus, and what stops the assistant on it. */
interface Assistant {
  bus: string
  stop: () => Promise<void> | void
}

/** A stand-in connects once its node hosts the bus. */
function standIn (options: ConstructorParameters<typeof StandInAssistant>[0]): (url: string) => Promise<Assistant> {
  return async url => {
    const assistant = await new StandInAssistant(options).connect(url)
    return { bus: url, stop: () => { assistant.close() } }
  }
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

async function realOvos (venv: string, name: string, skills: string[]): Promise<Assistant> {
  say('demo', `starting a real OVOS core for ${name} with ${skills.join(', ')}`)
  const core = await OvosInstance.start({ venv, name, skills })
  return { bus: core.busUrl, stop: async () => core.stop() }
}

async function main (): Promise<void> {
  const venv = withOvos ? await ovosVenv() : null
  if (withOvos && venv === null) throw new Error(OVOS_SKIP_MESSAGE)
  const base = await mkdtemp(join(tmpdir(), 'mycroft-mesh-demo-'))
  if (withVision) {
    try {
      await (await import('./vision.ts')).visionDemo(base, say)
    } finally {
      await rm(base, { recursive: true, force: true })
    }
    return
  }
  const nodes: NodeProcess[] = []
  const probes: BusProbe[] = []
  const assistants: Assistant[] = []
  try {
    /** A room: a node, its bus (embedded, or a real core's), a probe that narrates it, and its assistant. */
    const room = async (name: string, parent: NodeProcess | undefined, assistant: () => Assistant | ((url: string) => Promise<Assistant>) | Promise<Assistant>): Promise<{ node: NodeProcess, probe: BusProbe }> => {
      const made = await assistant()
      const external = typeof made === 'function' ? undefined : made
      if (external !== undefined) assistants.push(external)
      const node = new NodeProcess({ home: join(base, name), name, bus: external?.bus ?? 'embedded:0', parent: parent === undefined ? undefined : await parent.addr(), heartbeatMs: 2_000 })
      nodes.push(node)
      narrateLogs(name, node)
      await node.start()
      const url = (await node.status()).bus.url ?? ''
      if (typeof made === 'function') assistants.push(await made(url))
      const probe = await BusProbe.connect(url)
      probes.push(probe)
      narrateBus(name, probe)
      if (parent !== undefined) await waitFor(`${name} to link`, async () => (await node.status()).parent.state === 'linked')
      return { node, probe }
    }

    say('demo', withOvos
      ? 'starting root (real OVOS with hello-world), house (no assistant), and kitchen (real OVOS with only "I don\'t know")'
      : 'starting root (a stand-in assistant that knows a few answers), house, and kitchen')
    const root = await room('root', undefined, () => venv !== null ? realOvos(venv, 'root', [HELLO_WORLD, FALLBACK_UNKNOWN]) : standIn({ answers: ROOT_ANSWERS }))
    const house = await room('house', root.node, () => standIn({}))
    const kitchen = await room('kitchen', house.node, () => venv !== null ? realOvos(venv, 'kitchen', [FALLBACK_UNKNOWN]) : standIn({ fallbackUnknown: true }))

    for (const question of QUESTIONS) {
      say('user', `says in the kitchen: "${question}"`)
      const since = kitchen.probe.mark
      kitchen.probe.say(question)
      const spoken = await kitchen.probe.waitFor('the kitchen to speak', message => message.type === 'speak', 30_000, { since })
      const byMesh = typeof (spoken.data.meta as { answered_by?: unknown } | undefined)?.answered_by === 'string'
      say('kitchen', `${byMesh ? 'speaks the mesh\'s answer' : 'speaks its own answer'}: "${String(spoken.data.utterance)}"`)
    }

    say('demo', 'a skill on the house hub tells the kitchen, by name, that dinner is ready')
    const since = kitchen.probe.mark
    house.probe.emit({ type: 'speak', data: { utterance: 'Dinner is ready.', lang: 'en-US' }, context: { source: 'skills', destination: 'kitchen' } })
    await kitchen.probe.waitFor('the kitchen to speak', message => message.type === 'speak', 10_000, { since })

    const status = await kitchen.node.status()
    const { asks } = status
    say('demo', `the kitchen asked the mesh ${asks.asksSent} time(s): ${asks.answered} answered by the mesh, ${asks.unanswered} nobody knew (its own assistant answered), ${asks.timedOut} timed out`)
  } finally {
    await Promise.all(probes.map(async probe => probe.close()))
    await Promise.all(nodes.map(async node => node.stop()))
    await Promise.all(assistants.map(async assistant => assistant.stop()))
    await rm(base, { recursive: true, force: true })
  }
}

main().then(() => { process.exit(0) }, (err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
