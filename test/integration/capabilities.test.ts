/**
 * The capability shape as a user meets it: a node announces what it serves in hello/welcome, never sends a
 * kind its peer did not announce, and the permission words `allow`/`deny` take are checked.
 */
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { STAND_IN_DONT_KNOW } from '../../support/stand-in-assistant.ts'
import { runCli } from '../../support/node-process.ts'
import { RawPeers, type WireFrame } from '../helpers/raw-peer.ts'
import { Rooms, type Room } from '../helpers/rooms.ts'
import type { BusMessage } from '../../support/bus-probe.ts'

const QUESTION = 'what is the boiling point of water'
const ANSWER = 'One hundred degrees Celsius at sea level.'

describe('capabilities', () => {
  const peers = new RawPeers()
  const rooms = new Rooms()

  afterAll(async () => {
    await peers.stopAll()
    await rooms.cleanup()
  })

  async function askThrough (asker: Room, utterance: string): Promise<BusMessage> {
    const since = asker.bus.mark
    asker.bus.say(utterance)
    return asker.bus.waitFor(`an answer to "${utterance}"`, message => message.type === 'speak', 15_000, { since })
  }

  it('a parent\'s welcome names what it serves: questions, bus messages, the directory, relay, announcements and skills', async () => {
    const hub = await rooms.room('hub')
    const raw = await peers.link(await hub.node.addr())
    const welcome = await raw.hello('listener')
    expect((welcome.body as { capabilities: string[] }).capabilities.sort()).toEqual(['ask', 'broadcast', 'bus', 'directory', 'quiet-links', 'relay', 'skills'])
  })

  it('a child of a parent that does not announce questions never asks it: its own assistant answers at once', async () => {
    const asks: WireFrame[] = []
    const parent = await peers.parent(link => {
      link.onFrame(received => {
        if (received.kind === 'hello') link.respond(received, 'welcome', { name: 'mute-parent', version: 'test', capabilities: ['bus'] })
        if (received.kind === 'ask') asks.push(received)
      })
    })
    const attic = await rooms.room('attic', { parent: parent.addr, assistant: { fallbackUnknown: true } })
    expect((await askThrough(attic, QUESTION)).data.utterance).toBe(STAND_IN_DONT_KNOW)
    expect(asks).toEqual([])
    expect((await attic.node.status()).asks.asksSent).toBe(0)
  })

  it('deny ask: the parent refuses the child\'s questions and the child\'s own assistant answers; allow ask: answered again', async () => {
    const hub = await rooms.room('brain', { assistant: { answers: { [QUESTION]: ANSWER } } })
    const kitchen = await rooms.room('kitchen', { parent: hub, assistant: { fallbackUnknown: true } })
    expect((await askThrough(kitchen, QUESTION)).data.utterance).toBe(ANSWER)

    const denied = await runCli(['deny', '--home', hub.node.home, 'kitchen', 'ask'])
    expect(denied.code, denied.stderr).toBe(0)
    expect((await askThrough(kitchen, QUESTION)).data.utterance).toBe(STAND_IN_DONT_KNOW)
    expect((await hub.node.status()).access.violations).toBe(1)
    const refused = await kitchen.node.waitForLog('the kitchen to say why its own assistant answers', line => line.status === 'error')
    expect(refused.reason).toBe('the parent refused the question: you may not ask this node questions')

    const allowed = await runCli(['allow', '--home', hub.node.home, 'kitchen', 'ask'])
    expect(allowed.code, allowed.stderr).toBe(0)
    expect((await askThrough(kitchen, QUESTION)).data.utterance).toBe(ANSWER)
  })

  it('deny files: the parent refuses a child\'s file saying so; allow files: taken again', async () => {
    const hub = await rooms.room('hall')
    const porch = await rooms.room('porch', { parent: hub })
    const file = join(await mkdtemp(join(tmpdir(), 'mm-porch-')), 'note.txt')
    await writeFile(file, 'the door is open')
    expect((await runCli(['deny', '--home', hub.node.home, 'porch', 'files'])).code).toBe(0)
    const refused = await runCli(['send-file', '--home', porch.node.home, '--to', 'parent', file])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('you may not send files to this node')
    expect((await runCli(['allow', '--home', hub.node.home, 'porch', 'files'])).code).toBe(0)
    expect((await runCli(['send-file', '--home', porch.node.home, '--to', 'parent', file])).code).toBe(0)
  })
})
