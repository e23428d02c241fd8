/**
 * A house under honest peak load and one hostile peer, on loopback, bounded in time.
 *
 *   npm run soak [-- --rooms 20 --questions 30 --waves 2 --hostile-ms 30000]
 *
 * A brain (the root, with a stand-in assistant that knows nine questions in ten and takes half a second over
 * each), a hub with no assistant under it, and 20 rooms under the hub, each a real node process with its own bus.
 * Every room gets a wave of questions nothing on its own bus handles, all at once, as a classic core reports
 * misses; meanwhile a hostile peer links to the hub under one fresh identity after another and floods it with
 * asks far over its rate and with garbage. Printed at the end: how many questions were answered, given back to
 * the room's own assistant (nobody knew, or the deadline came), and lost (neither: must be 0), and whether any
 * honest node was ever cut off or lost its link (never). Exit code 0 when both hold, 1 otherwise.
 */
import { parseArgs } from 'node:util'
import { randomUUID } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { pino } from 'pino'
import { createMeshLibp2p } from '../../src/node/index.ts'
import { encodeFrame, LINK_PROTOCOL, MAX_FRAME_BYTES, type Envelope } from '../../src/routing/index.ts'
import { BusProbe } from '../../support/bus-probe.ts'
import { Homes, NodeProcess, type MeshStatus } from '../../support/node-process.ts'
import { StandInAssistant } from '../../support/stand-in-assistant.ts'
import { waitFor } from '../../support/wait.ts'

const { values } = parseArgs({
  options: {
    rooms: { type: 'string', default: '20' },
    questions: { type: 'string', default: '30' },
    waves: { type: 'string', default: '2' },
    'hostile-ms': { type: 'string', default: '30000' }
  }
})
const ROOMS = Number(values.rooms)
const QUESTIONS = Number(values.questions)
const WAVES = Number(values.waves)
const HOSTILE_MS = Number(values['hostile-ms'])
/** how long the whole run may take before it gives up waiting for answers */
const SETTLE_MS = 120_000

const log = pino({ level: 'silent' })
const homes = new Homes()
const processes: NodeProcess[] = []
const probes: BusProbe[] = []

const utterance = (room: number, wave: number, q: number): string => `room ${room} wave ${wave} question ${q}`
const progress = (text: string): void => { process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`) }

async function start (name: string, options: Partial<ConstructorParameters<typeof NodeProcess>[0]>): Promise<NodeProcess> {
  const node = new NodeProcess({ home: await homes.make(`mm-soak-${name}-`), name, ...options })
  processes.push(node)
  return node.start()
}

/** One hostile identity after another: link, flood until cut off, come back as someone new. */
async function hostile (hubAddr: string, until: number): Promise<{ identities: number, framesSent: number }> {
  let identities = 0
  let framesSent = 0
  while (Date.now() < until) {
    const node = await createMeshLibp2p({ log, services: {} })
    identities++
    try {
      const stream = await node.dialProtocol(multiaddr(hubAddr), LINK_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      const from = node.peerId.toString()
      const envelope = (kind: string, body: unknown): Uint8Array => encodeFrame({ v: 1, id: randomUUID(), kind, from, ttl: 16, route: [from], body } satisfies Envelope, MAX_FRAME_BYTES) as Uint8Array
      let closed = false
      stream.addEventListener('close', () => { closed = true })
      // the flood starts once the hub has answered the hello (welcomed, or refused)
      const answered = new Promise<void>(resolve => { stream.addEventListener('message', () => { resolve() }, { once: true }) })
      stream.send(envelope('hello', { name: `hostile-${identities}`, version: 'soak', capabilities: ['ask'] }))
      await Promise.race([answered, new Promise(resolve => setTimeout(resolve, 5_000))])
      for (let burst = 0; !closed && Date.now() < until && burst < 50; burst++) {
        const frames: Uint8Array[] = []
        for (let i = 0; i < 500; i++) {
          frames.push(i % 3 === 0 ? Buffer.from([5, 0x7b, 0x7b, 0x7b, 0x7b, 0x7b]) : envelope('ask', { utterances: ['flood'], lang: 'en-US', deadlineMs: 5_000 }))
        }
        if (stream.writeStatus !== 'writable') break
        if (!stream.send(Buffer.concat(frames))) await stream.onDrain({ signal: AbortSignal.timeout(5_000) }).catch(() => {})
        framesSent += frames.length
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    } catch {
      // refused or hung up: the next identity tries
    } finally {
      await node.stop()
    }
  }
  return { identities, framesSent }
}

interface RoomFigures { asksSent: number, answered: number, unanswered: number, timedOut: number, failed: number, givenBack: number }

async function main (): Promise<number> {
  const answers: Record<string, string> = {}
  for (let room = 0; room < ROOMS; room++) {
    for (let wave = 0; wave < WAVES; wave++) {
      // the brain knows nine questions in ten
      for (let q = 0; q < QUESTIONS; q++) if (q % 10 !== 9) answers[utterance(room, wave, q)] = `answer ${room}.${wave}.${q}`
    }
  }
  progress(`starting a brain, a hub and ${ROOMS} rooms`)
  const brain = await start('brain', { bus: 'embedded:0' })
  const brainBus = (await brain.status()).bus.url
  if (brainBus === null) throw new Error('the brain has no bus')
  const assistant = await new StandInAssistant({ answers, answerDelayMs: 500 }).connect(brainBus)
  const hub = await start('hub', { parent: await brain.addr() })
  const hubAddr = await hub.addr()
  const rooms: NodeProcess[] = []
  // a few at a time: twenty node processes starting at once on two cores take longer than a start may
  for (let i = 0; i < ROOMS; i += 4) {
    rooms.push(...await Promise.all(Array.from({ length: Math.min(4, ROOMS - i) }, async (_, j) => start(`room-${i + j}`, { parent: hubAddr, bus: 'embedded:0' }))))
  }
  await waitFor('every room to link', async () => (await Promise.all(rooms.map(async room => room.status()))).every(s => s.parent.state === 'linked'), { timeoutMs: 60_000 })
  await waitFor('the brain to grow the hub\'s limits', async () => ((await hub.status()).parent.limits?.asksInFlight ?? 0) > 8 * ROOMS)
  const linkedSince = new Map<NodeProcess, string | null>()
  for (const node of [hub, ...rooms]) linkedSince.set(node, (await node.status()).parent.since)
  for (const room of rooms) {
    const url = (await room.status()).bus.url
    if (url === null) throw new Error('a room has no bus')
    probes.push(await BusProbe.connect(url))
  }

  progress(`a hostile peer floods the hub for ${HOSTILE_MS / 1000} s; ${WAVES} waves of ${QUESTIONS} questions in each of ${ROOMS} rooms`)
  const hostileRun = hostile(hubAddr, Date.now() + HOSTILE_MS)
  const asked = ROOMS * WAVES * QUESTIONS
  for (let wave = 0; wave < WAVES; wave++) {
    probes.forEach((probe, room) => {
      for (let q = 0; q < QUESTIONS; q++) probe.emit({ type: 'complete_intent_failure', data: { utterances: [utterance(room, wave, q)], lang: 'en-US' }, context: {} })
    })
    progress(`wave ${wave + 1}: ${ROOMS * QUESTIONS} questions asked at once`)
    await waitFor(`wave ${wave + 1} to settle`, async () => {
      const figures = (await Promise.all(rooms.map(async room => room.status()))).map(s => s.asks as RoomFigures)
      const settled = figures.reduce((sum, f) => sum + f.answered + f.unanswered + f.timedOut + f.failed, 0)
      return settled >= ROOMS * QUESTIONS * (wave + 1)
    }, { timeoutMs: SETTLE_MS, intervalMs: 500 }).catch(() => { progress(`wave ${wave + 1} did not settle in time`) })
  }
  const { identities, framesSent } = await hostileRun

  const statuses = await Promise.all(rooms.map(async room => room.status()))
  const figures = statuses.map(s => s.asks as RoomFigures)
  const sum = (pick: (f: RoomFigures) => number): number => figures.reduce((total, f) => total + pick(f), 0)
  const spoken = probes.reduce((total, probe) => total + probe.of('speak').filter(m => /^answer /.test(String(m.data.utterance))).length, 0)
  const givenBack = sum(f => f.unanswered + f.timedOut + f.failed)
  const lost = asked - spoken - givenBack
  const brainStatus: MeshStatus = await brain.status()
  const hubStatus: MeshStatus = await hub.status()
  const honest = new Set(['hub', ...rooms.map(room => room.options.name)])
  const cutOff = [...brainStatus.access.cutOff, ...hubStatus.access.cutOff].filter(entry => honest.has(entry.name)).map(entry => entry.name)
  const relinked: string[] = []
  for (const node of [hub, ...rooms]) {
    const parent = (await node.status()).parent
    if (parent.state !== 'linked' || parent.since !== linkedSince.get(node)) relinked.push(node.options.name)
  }

  const report = {
    questions: asked,
    answered: spoken,
    givenBack: { total: givenBack, nobodyKnew: sum(f => f.unanswered), deadline: sum(f => f.timedOut), other: sum(f => f.failed), ofWhichQueuedTooLong: sum(f => f.givenBack) },
    lost,
    honestNodesCutOff: cutOff,
    honestNodesThatLostTheirLink: relinked,
    hostile: { identities, framesSent, hubViolations: hubStatus.access.violations, hubCutOffs: hubStatus.access.cutOffs, hubBusy: hubStatus.access.busy },
    brain: { violations: brainStatus.access.violations, busy: brainStatus.access.busy, heardQuestions: assistant.heard.length }
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  assistant.close()
  return lost === 0 && cutOff.length === 0 && relinked.length === 0 ? 0 : 1
}

let code = 1
try {
  code = await main()
} catch (err) {
  process.stderr.write(`soak failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
} finally {
  await Promise.all(probes.map(async probe => probe.close()))
  await Promise.all(processes.map(async node => node.kill()))
  await homes.cleanup()
}
process.exit(code)
