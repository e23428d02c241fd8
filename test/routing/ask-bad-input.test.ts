import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { STAND_IN_DONT_KNOW } from '../../support/stand-in-assistant.ts'
import { VIOLATION_LIMIT } from '../../src/access/index.ts'
import { defaultPermissions } from '../../src/access/index.ts'
import { MAX_ASKS_IN_FLIGHT_PER_CHILD } from '../../src/routing/index.ts'
import type { BusMessage, BusProbe } from '../../support/bus-probe.ts'
import { type LogLine, type NodeProcess } from '../../support/node-process.ts'
import { Rooms, type Room } from '../helpers/rooms.ts'
import { openLink, RawPeers, type ErrorFrame, type RawLink, type WireFrame } from '../helpers/raw-peer.ts'
import { waitFor } from '../../support/wait.ts'

/**
 * Bad input in the ask flow, from hand-made libp2p peers talking to real node processes: a child that floods a
 * parent with questions, replies nobody asked for, answers that come after their deadline, questions that do
 * not fit the schema and bus messages a child may not send. Each case checks what a user would notice — an
 * answer's status, a counter in `status`, a log line — and that a healthy real child keeps getting answers.
 */

const WARN = 40
const ERROR = 50
/** what the parent's stand-in assistant knows, and how long it takes: long enough to keep a flood in flight */
const HEALTHY_QUESTION = 'what is the weather on the hill'
const HEALTHY_ANSWER = 'Sunny, with a light breeze.'
const SLOW_QUESTION = 'count the stars'
const SLOW_ANSWER = 'About two thousand five hundred, on a clear night.'
const ANSWER_DELAY_MS = 2_000
const CHILD_RATE = defaultPermissions('child').framesPerSecond

const question = (utterance: string, deadlineMs = 10_000): Record<string, unknown> => ({ utterances: [utterance], lang: 'en-US', deadlineMs })
const spoken = (bus: BusProbe, since = 0): string[] => bus.messages.slice(since).filter(m => m.type === 'speak').map(m => String(m.data.utterance))
const errorLines = (node: NodeProcess): LogLine[] => node.logs.filter(line => line.level >= ERROR)

interface RawFrameCounts {
  /** error frames by code */
  errors: Record<string, number>
  /** answer frames by status */
  answers: Record<string, number>
  other: number
}

function countFrames (frames: WireFrame[]): RawFrameCounts {
  const counts: RawFrameCounts = { errors: {}, answers: {}, other: 0 }
  for (const f of frames) {
    if (f.kind === 'error') {
      const code = (f as ErrorFrame).body.code
      counts.errors[code] = (counts.errors[code] ?? 0) + 1
    } else if (f.kind === 'answer') {
      const status = (f.body as { status: string }).status
      counts.answers[status] = (counts.answers[status] ?? 0) + 1
    } else {
      counts.other++
    }
  }
  return counts
}

describe('the ask flow under bad input', () => {
  const peers = new RawPeers()
  const rooms = new Rooms()
  const room = rooms.room.bind(rooms)

  afterAll(async () => {
    await peers.stopAll()
    await rooms.cleanup()
  })

  /** Speaks `utterance` in `asker` and resolves with what its bus speaks next (the answer or the local "I don't know"). */
  async function askThrough (asker: Room, utterance: string, timeoutMs = 15_000): Promise<BusMessage> {
    const since = asker.bus.mark
    asker.bus.say(utterance)
    return asker.bus.waitFor(`an answer to "${utterance}" on ${asker.node.options.name}'s bus`, message => message.type === 'speak', timeoutMs, { since })
  }

  describe('a raw child of a real parent', () => {
    let hub: Room
    let kitchen: Room
    let hubAddr: string
    let hubPeerId: string

    beforeAll(async () => {
      hub = await room('hub', { assistant: { answers: { [HEALTHY_QUESTION]: HEALTHY_ANSWER, [SLOW_QUESTION]: SLOW_ANSWER }, answerDelayMs: ANSWER_DELAY_MS } })
      hubAddr = await hub.node.addr()
      hubPeerId = (await hub.node.status()).peerId
      kitchen = await room('kitchen', { parent: hubAddr, assistant: { fallbackUnknown: true } })
    })

    /** The healthy kitchen asks its question and hears the hub's answer, as the flood goes on or after it. */
    async function expectKitchenAnswered (): Promise<void> {
      const answer = await askThrough(kitchen, HEALTHY_QUESTION)
      expect(answer.data).toMatchObject({ utterance: HEALTHY_ANSWER, meta: { answered_by: 'hub' } })
    }

    async function rawChild (name: string): Promise<RawLink> {
      const link = await peers.link(hubAddr)
      const welcome = await link.hello(name)
      expect(welcome).toMatchObject({ from: hubPeerId, body: { name: 'hub' } })
      return link
    }

    it(`(a) a flood of 50 concurrent asks: ${MAX_ASKS_IN_FLIGHT_PER_CHILD} are worked on, the rest answered "busy" at once, and the kitchen still gets its answers`, async () => {
      const flooder = await rawChild('flooder')
      const before = (await hub.node.status()).asks

      const ids = Array.from({ length: 50 }, () => flooder.envelope({ kind: 'ask', body: question(SLOW_QUESTION) }))
      const kitchenAnswered = expectKitchenAnswered()
      const replies = await Promise.all(ids.map(async id => flooder.replyTo(id, ANSWER_DELAY_MS + 10_000)))

      expect(replies.every(reply => reply.kind === 'answer')).toBe(true)
      const bodies = replies.map(reply => reply.body as { status: string, reason?: string, speaks: Array<{ utterance: string }>, answeredBy?: { name: string } })
      const busy = bodies.filter(body => body.status === 'busy')
      const answered = bodies.filter(body => body.status === 'answered')
      expect(answered).toHaveLength(MAX_ASKS_IN_FLIGHT_PER_CHILD)
      expect(busy).toHaveLength(50 - MAX_ASKS_IN_FLIGHT_PER_CHILD)
      expect(answered[0]).toMatchObject({ speaks: [{ utterance: SLOW_ANSWER }], answeredBy: { name: 'hub' } })
      expect(busy[0]).toMatchObject({ speaks: [], answeredBy: { name: 'hub' } })
      expect(busy[0]?.reason).toContain(`already working on ${MAX_ASKS_IN_FLIGHT_PER_CHILD} questions from flooder`)
      // "busy" comes back at once, while the questions in flight wait for the assistant
      const firstAnswered = flooder.frames.findIndex(f => (f.body as { status?: string }).status === 'answered')
      const lastBusy = flooder.frames.findLastIndex(f => (f.body as { status?: string }).status === 'busy')
      expect(lastBusy).toBeLessThan(firstAnswered)
      // nothing was refused by the rate limiter: 50 asks are within a child's burst
      expect(flooder.frames.filter(f => f.kind === 'error')).toEqual([])

      await kitchenAnswered
      const after = (await hub.node.status()).asks
      // the flooder's 50, and the kitchen's one
      expect(after.asksFromChildren - before.asksFromChildren).toBe(51)
      expect(after.refusedBusy - before.refusedBusy).toBe(50 - MAX_ASKS_IN_FLIGHT_PER_CHILD)
      expect(after.answeredForChildren - before.answeredForChildren).toBeGreaterThanOrEqual(MAX_ASKS_IN_FLIGHT_PER_CHILD)
      // one line for the lot: the rest are summed up in one more line at the end of the minute
      const refusedLines = hub.node.logs.filter(line => line.level === WARN && line.from === 'flooder' && /refused a question from flooder/.test(line.msg))
      expect(refusedLines).toHaveLength(1)
      expect(refusedLines[0]?.msg).toBe(`refused a question from flooder: ${MAX_ASKS_IN_FLIGHT_PER_CHILD} of its questions are already in flight`)

      expect(flooder.ended).toBe(false)
      // once its questions are done, the flooder may ask again
      const again = flooder.envelope({ kind: 'ask', body: question(SLOW_QUESTION) })
      expect((await flooder.replyTo(again, ANSWER_DELAY_MS + 5_000)).body).toMatchObject({ status: 'answered' })
    })

    /** Sends `count` asks at once; resolves when the hub has cut the peer off and closed its link. */
    async function torrentOfAsks (link: RawLink, count: number): Promise<{ ids: string[], cutOff: ErrorFrame, before: RawFrameCounts }> {
      // in one write: the parent takes them in one go, faster than any refill of the rate limit
      const ids = link.envelopes(Array.from({ length: count }, () => ({ kind: 'ask', body: question(SLOW_QUESTION) })))
      const cutOff = await waitFor('the cut-off error frame', () => link.frames.find(f => f.kind === 'error' && (f as ErrorFrame).body.code === 'cut-off') as ErrorFrame | undefined)
      await link.waitEnded('the cut-off')
      return { ids, cutOff, before: countFrames(link.frames.slice(0, link.frames.indexOf(cutOff))) }
    }

    /** Frames over the rate before a cut-off: a second's allowance over it for each violation. */
    const FLOOD_TO_CUT_OFF = VIOLATION_LIMIT * CHILD_RATE
    /** What a child may send at once: twice its rate. */
    const BURST = 2 * CHILD_RATE

    it(`(a) a torrent of asks far over the rate limit: "busy" with a retry-after first, not counted; cut off only after ${FLOOD_TO_CUT_OFF} frames beyond it; refused when it comes back; the kitchen still served`, async () => {
      const torrent = await rawChild('torrent')
      const before = await hub.node.status()

      const kitchenAnswered = expectKitchenAnswered()
      const { ids, cutOff, before: untilCutOff } = await torrentOfAsks(torrent, BURST + FLOOD_TO_CUT_OFF + 200)
      expect(cutOff.from).toBe(hubPeerId)
      expect(ids).toContain(cutOff.re)
      // the burst passed, then a whole flood's worth was only told to slow down
      expect(ids.indexOf(cutOff.re ?? '')).toBeGreaterThanOrEqual(BURST + FLOOD_TO_CUT_OFF - 1)
      expect(cutOff.body.message).toMatch(new RegExp(`^cut off until \\S+ for repeated violations \\(kept sending far over ${CHILD_RATE} frames per second after being told to slow down\\)$`))
      // busy, never a violation, until the flood was far beyond the limit; and not answered one for one
      expect(Object.keys(untilCutOff.errors)).toEqual(['busy'])
      expect(untilCutOff.errors.busy).toBeLessThanOrEqual(30)
      const busy = torrent.frames.find((f): f is ErrorFrame => f.kind === 'error' && (f as ErrorFrame).body.code === 'busy')
      expect(busy?.body).toMatchObject({ message: `more than ${CHILD_RATE} frames per second; slow down` })
      expect((busy?.body as { retryAfterMs?: number }).retryAfterMs).toBeGreaterThan(0)
      expect(ids).toContain(busy?.re)
      // what passed the limiter was answered ("busy" beyond the in-flight limit) before the link went down
      expect(untilCutOff.answers.busy).toBeGreaterThan(0)

      const after = await hub.node.status()
      expect(after.access.cutOffs - before.access.cutOffs).toBe(1)
      expect(after.access.violations - before.access.violations).toBe(VIOLATION_LIMIT)
      expect(after.access.cutOff).toContainEqual(expect.objectContaining({ peerId: torrent.peerId, name: 'torrent' }))
      expect(after.children.map(c => c.name)).not.toContain('torrent')
      // one warning line for the whole flood, and the cut-off
      const warnings = hub.node.logs.filter(line => line.level === WARN && line.peer === torrent.peerId && line.code === 'rate-limited')
      expect(warnings.map(line => line.msg)).toEqual([`dropped a frame from torrent: kept sending far over ${CHILD_RATE} frames per second after being told to slow down`])
      const cutLine = await hub.node.waitForLog('the cut-off log line', line => line.level === ERROR && line.peer === torrent.peerId)
      expect(cutLine.msg).toMatch(new RegExp(`^cut torrent off until \\S+: ${VIOLATION_LIMIT} violations within 60 s`))

      // the same peer, on a new stream: refused with cut-off at hello, and hung up
      const again = await openLink(peers.nodeOf(torrent), hubAddr)
      const helloId = again.envelope({ kind: 'hello', body: { name: 'torrent', version: 'test', capabilities: [] } })
      const refused = await again.nextError()
      expect(refused).toMatchObject({ re: helloId, body: { code: 'cut-off' } })
      expect(refused.body.message).toMatch(/this node cut you off until .* for repeated violations/)
      await again.waitEnded('the refused hello')
      await waitFor('the refusal to be counted', async () => ((await hub.node.status()).access.refusedLinks['cut-off'] ?? 0) >= 1)
      await waitFor('the hub to hang up on the refused peer', () => peers.nodeOf(torrent).getConnections().length === 0)

      await kitchenAnswered
      await expectKitchenAnswered()
      expect((await kitchen.node.status()).parent).toMatchObject({ state: 'linked', attempts: 0 })
    })

    it('(a) once cut off, nothing more from that peer is judged or handled: one cut-off, one error line, no refusal after it', async () => {
      const deluge = await rawChild('deluge')
      const before = await hub.node.status()

      const { ids, cutOff } = await torrentOfAsks(deluge, BURST + FLOOD_TO_CUT_OFF + 200)
      // frames are judged in the order they were sent: each ask before the one that got the cut-off was either
      // handled or told "busy"; none after it should be either
      const sentBeforeTheCutOff = ids.indexOf(cutOff.re ?? '')
      const errorsAfterTheCutOff = countFrames(deluge.frames.slice(deluge.frames.indexOf(cutOff) + 1).filter(f => f.kind === 'error')).errors
      const after = await hub.node.status()
      const toldBusy = after.access.busy - before.access.busy - 1
      expect({
        errorsAfterTheCutOff,
        asksHandled: after.asks.asksFromChildren - before.asks.asksFromChildren,
        cutOffsCounted: after.access.cutOffs - before.access.cutOffs,
        violationsCounted: after.access.violations - before.access.violations,
        cutOffLogLines: hub.node.logs.filter(line => line.level === ERROR && line.peer === deluge.peerId).length
      }).toEqual({
        errorsAfterTheCutOff: {},
        asksHandled: sentBeforeTheCutOff - toldBusy,
        cutOffsCounted: 1,
        violationsCounted: VIOLATION_LIMIT,
        cutOffLogLines: 1
      })
    })

    it('(b) an answer naming no question is dropped and counted, with a warning, and the link stays up', async () => {
      const replier = await rawChild('replier')
      const before = (await hub.node.status()).link.unknownReplies

      replier.envelope({ kind: 'answer', re: 'no-such-question', body: { status: 'answered', speaks: [{ utterance: 'forty-two' }] } })
      await waitFor('the unknown reply to be counted', async () => (await hub.node.status()).link.unknownReplies === before + 1)
      const warning = await hub.node.waitForLog('the warning', line => line.level === WARN && line.peer === replier.peerId)
      expect(warning).toMatchObject({ msg: 'dropped a reply to no request waiting here (late or unknown)', kind: 'answer', re: 'no-such-question' })

      // still linked and served: a ping is answered, no error came back, and it can still ask
      const ping = replier.envelope({ kind: 'ping', body: { t: 1 } })
      expect((await replier.replyTo(ping)).kind).toBe('pong')
      const ask = replier.envelope({ kind: 'ask', body: question(HEALTHY_QUESTION) })
      expect((await replier.replyTo(ask, ANSWER_DELAY_MS + 5_000)).body).toMatchObject({ status: 'answered', speaks: [{ utterance: HEALTHY_ANSWER }] })
      expect(replier.frames.filter(f => f.kind === 'error')).toEqual([])
      expect(replier.ended).toBe(false)
      expect((await hub.node.status()).children.map(c => c.name)).toContain('replier')
    })

    it('(d) asks whose body does not fit the schema get an "invalid" error naming the field, and the link stays up', async () => {
      const confused = await rawChild('confused')
      const cases: Array<[unknown, string]> = [
        [{ utterances: ['hi'], lang: 'en-US', deadlineMs: 'soon' }, 'deadlineMs'],
        [{ utterances: [], lang: 'en-US', deadlineMs: 5_000 }, 'utterances'],
        [{ utterances: [42], lang: 'en-US', deadlineMs: 5_000 }, 'utterances.0'],
        [{ utterances: ['hi'], deadlineMs: 5_000 }, 'lang'],
        [{ utterances: ['hi'], lang: 'en-US', deadlineMs: 10 }, 'deadlineMs'],
        [{ utterances: ['hi'], lang: 'en-US', deadlineMs: 1e12 }, 'deadlineMs'],
        [{ utterances: ['x'.repeat(2_001)], lang: 'en-US', deadlineMs: 5_000 }, 'utterances.0']
      ]
      for (const [body, field] of cases) {
        const id = confused.envelope({ kind: 'ask', body })
        const error = await confused.replyTo(id) as ErrorFrame
        expect(error, `ask body ${JSON.stringify(body).slice(0, 80)}`).toMatchObject({ kind: 'error', from: hubPeerId, body: { code: 'invalid' } })
        expect(error.body.message).toMatch(new RegExp(`^ask field '${field.replace('.', '\\.')}': `))
      }
      // no answer to any of them, and the assistant never heard them
      expect(confused.frames.filter(f => f.kind === 'answer')).toEqual([])
      expect(hub.assistant?.heard.filter(m => (m.context.mycroft_mesh as { child_name?: string } | undefined)?.child_name === 'confused')).toEqual([])
      const ping = confused.envelope({ kind: 'ping', body: { t: 2 } })
      expect((await confused.replyTo(ping)).kind).toBe('pong')
      expect(confused.ended).toBe(false)
    })

    it('(e) a bus message from a child is refused as "forbidden", and nothing reaches the parent\'s bus', async () => {
      const pusher = await rawChild('pusher')
      const before = (await hub.node.status()).access.violations
      const since = hub.bus.mark

      const id = pusher.envelope({ kind: 'bus', body: { message: { type: 'speak', data: { utterance: 'the child took over the speakers' }, context: { destination: ['audio'] } } } })
      const error = await pusher.replyTo(id) as ErrorFrame
      expect(error).toMatchObject({ kind: 'error', from: hubPeerId, body: { code: 'forbidden', message: 'you may not send \'speak\' messages to this node\'s bus' } })
      const untyped = pusher.envelope({ kind: 'bus', body: { message: { data: {} } } })
      expect(((await pusher.replyTo(untyped)) as ErrorFrame).body).toMatchObject({ code: 'forbidden', message: 'you may not send \'?\' messages to this node\'s bus' })

      // an ask after the bus messages is an ordering barrier: the hub emits on its bus in order, so once the
      // question shows up there, anything the refused messages had put on the bus would have shown up first
      const ask = pusher.envelope({ kind: 'ask', body: question(HEALTHY_QUESTION) })
      await hub.bus.waitFor('pusher\'s question on the hub\'s bus', m => m.type === 'recognizer_loop:utterance' &&
        (m.context.mycroft_mesh as { child_name?: string } | undefined)?.child_name === 'pusher', 5_000, { since })
      expect((await pusher.replyTo(ask, ANSWER_DELAY_MS + 5_000)).body).toMatchObject({ status: 'answered' })
      expect(spoken(hub.bus, since)).not.toContain('the child took over the speakers')
      expect(hub.bus.messages.slice(since).filter(m => JSON.stringify(m).includes('took over'))).toEqual([])

      expect((await hub.node.status()).access.violations - before).toBe(2)
      const warning = await hub.node.waitForLog('the warning', line => line.level === WARN && line.peer === pusher.peerId && line.code === 'forbidden')
      expect(warning.msg).toBe('dropped a frame from pusher: you may not send \'speak\' messages to this node\'s bus')
      expect(pusher.ended).toBe(false)
    })

    it('afterwards: the hub is still running, logged nothing unexpected at error level, and the kitchen never lost its link', async () => {
      await expectKitchenAnswered()
      expect(errorLines(hub.node).map(line => line.msg).filter(msg => !/^cut (torrent|deluge) off until /.test(msg))).toEqual([])
      expect(hub.node.stderr).not.toMatch(/unhandled|TypeError|RangeError/i)
      expect(errorLines(kitchen.node)).toEqual([])
      expect((await kitchen.node.status()).parent).toMatchObject({ state: 'linked', attempts: 0, lastError: null })
      expect(spoken(kitchen.bus)).not.toContain(STAND_IN_DONT_KNOW)
    })
  })

  describe('a real child of a raw parent that answers late', () => {
    const ASK_TIMEOUT_MS = 1_500
    const LATE_QUESTION = 'is anyone up there'
    const LATE_ANSWER = 'Yes, but too late.'
    const TIMELY_QUESTION = 'and now'
    const TIMELY_ANSWER = 'Right on time.'

    it('times out, speaks its own "I don\'t know", then drops and counts the late answer without harm', async () => {
      const links: RawLink[] = []
      const asks: Array<{ link: RawLink, ask: WireFrame }> = []
      const parent = await peers.parent(link => {
        links.push(link)
        link.onFrame(received => {
          if (received.kind === 'hello') link.respond(received, 'welcome', { name: 'raw-parent', version: 'test', capabilities: ['ask', 'bus'] })
          if (received.kind === 'ask') asks.push({ link, ask: received })
        })
      })
      const parentPeerId = parent.node.peerId.toString()
      const attic = await room('attic', { parent: parent.addr, assistant: { fallbackUnknown: true }, extraArgs: ['--ask-timeout-ms', String(ASK_TIMEOUT_MS)] })
      const atticPeerId = (await attic.node.status()).peerId

      const local = askThrough(attic, LATE_QUESTION)
      const { link, ask } = await waitFor('the attic\'s question at the raw parent', () => asks[0])
      expect(ask).toMatchObject({ kind: 'ask', from: atticPeerId, route: [atticPeerId], ttl: 16, body: { utterances: [LATE_QUESTION], lang: 'en-US' } })
      // the hop's margin less, and the moment it took to send
      const { deadlineMs } = ask.body as { deadlineMs: number }
      expect(deadlineMs).toBeLessThanOrEqual(ASK_TIMEOUT_MS - 250)
      expect(deadlineMs).toBeGreaterThan(ASK_TIMEOUT_MS - 300)

      // the raw parent says nothing until the attic has given up on the question
      expect((await local).data.utterance).toBe(STAND_IN_DONT_KNOW)
      await waitFor('the attic to count the timeout', async () => (await attic.node.status()).asks.timedOut === 1)
      const gaveUp = await attic.node.waitForLog('the attic to say why its own assistant answers', line => line.status === 'timeout')
      expect(gaveUp.reason).toBe(`no answer from the parent within ${deadlineMs} ms`)

      link.respond(ask, 'answer', { status: 'answered', speaks: [{ utterance: LATE_ANSWER }], answeredBy: { peerId: parentPeerId, name: 'raw-parent' } })
      await waitFor('the late answer to be counted', async () => (await attic.node.status()).link.unknownReplies === 1)
      const dropped = await attic.node.waitForLog('the warning about the late answer', line => line.level === WARN && line.re === ask.id)
      expect(dropped).toMatchObject({ msg: 'dropped a reply to no request waiting here (late or unknown)', kind: 'answer', peer: parentPeerId })

      // still linked, and a question answered in time is spoken: the late one never is
      const timely = askThrough(attic, TIMELY_QUESTION)
      const second = await waitFor('the second question at the raw parent', () => asks[1])
      link.respond(second.ask, 'answer', { status: 'answered', speaks: [{ utterance: TIMELY_ANSWER }], answeredBy: { peerId: parentPeerId, name: 'raw-parent' } })
      expect((await timely).data).toMatchObject({ utterance: TIMELY_ANSWER, meta: { answered_by: 'raw-parent' } })
      expect(spoken(attic.bus)).toEqual([STAND_IN_DONT_KNOW, TIMELY_ANSWER])

      const status = await attic.node.status()
      expect(status.asks).toMatchObject({ asksSent: 2, timedOut: 1, answered: 1 })
      expect(status.link.unknownReplies).toBe(1)
      expect(status.parent).toMatchObject({ state: 'linked', peerId: parentPeerId, attempts: 0 })
      expect(links).toHaveLength(1)
      expect(errorLines(attic.node)).toEqual([])
      expect(attic.node.stderr).not.toMatch(/unhandled|TypeError|RangeError/i)
    })
  })
})
