import { randomBytes } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { FREE_FAILURES, MAX_LINKS_PER_MINUTE } from '../../src/access/index.ts'
import { LOG_TEXT_LIMIT } from '../../src/common/index.ts'
import { MAX_FRAME_BYTES } from '../../src/routing/index.ts'
import { Homes, NodeProcess, runCli } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'
import { frame, openLink, RawPeers, type ErrorFrame } from '../helpers/raw-peer.ts'
import { Rooms } from '../helpers/rooms.ts'

/**
 * A node under attack from hand-made libp2p peers, on loopback: what an attacker does must cost it more than the
 * node, and never keep the house's own nodes out.
 */

const WARN = 40
const homes = new Homes()
const peers = new RawPeers()
const rooms = new Rooms()
const nodes: NodeProcess[] = []

afterEach(async () => {
  await peers.stopAll()
  await Promise.all(nodes.splice(0).map(async node => node.kill()))
  await rooms.cleanup()
  await homes.cleanup()
})

async function node (name: string, options: Partial<ConstructorParameters<typeof NodeProcess>[0]> = {}): Promise<NodeProcess> {
  const made = new NodeProcess({ home: await homes.make(`mm-${name}-`), name, ...options })
  nodes.push(made)
  return made.start()
}

const helloBody = (name: string, invite?: string): Record<string, unknown> => ({ name, version: 'test', capabilities: [], ...(invite === undefined ? {} : { invite }) })

describe('re-link loops', () => {
  it(`a peer that links more than ${MAX_LINKS_PER_MINUTE} times a minute is told to wait, and its links never rewrite the trust store`, async () => {
    const hub = await node('hub')
    const addr = await hub.addr()
    const client = await peers.client()
    const trust = join(hub.home, 'trust.json')

    const first = await openLink(client, addr)
    await first.hello('looper')
    await first.stream.close()
    const written = (await stat(trust)).mtimeMs

    const codes: string[] = []
    let waitMs: number | undefined
    for (let round = 1; round <= MAX_LINKS_PER_MINUTE + 2; round++) {
      const link = await openLink(client, addr)
      const id = link.envelope({ kind: 'hello', body: helloBody('looper') })
      const reply = await link.replyTo(id)
      codes.push(reply.kind === 'welcome' ? 'welcome' : (reply as ErrorFrame).body.code)
      if (reply.kind === 'error') waitMs ??= (reply.body as { retryAfterMs?: number }).retryAfterMs
      await link.stream.close().catch(() => {})
      // both ends closed: a connection holds two link streams at most
      await waitFor('the link to end', () => link.closeEvent !== undefined, { timeoutMs: 5_000 })
    }
    // the first link of the minute was the one above
    expect(codes.slice(0, MAX_LINKS_PER_MINUTE - 1)).toEqual(Array.from({ length: MAX_LINKS_PER_MINUTE - 1 }, () => 'welcome'))
    expect(codes.slice(MAX_LINKS_PER_MINUTE - 1)).toEqual(['rate-limited', 'rate-limited', 'rate-limited'])
    expect(waitMs).toBeGreaterThan(0)
    expect((await stat(trust)).mtimeMs).toBe(written)
    expect((await hub.status()).access.throttled).toBeGreaterThanOrEqual(3)
  })

  it('an oversize frame after hello counts as a violation', async () => {
    const hub = await node('hub')
    const addr = await hub.addr()
    const client = await peers.client()
    const before = (await hub.status()).access.violations
    const link = await openLink(client, addr)
    await link.hello('oversize')
    link.raw(frame(new Uint8Array(MAX_FRAME_BYTES + 1)))
    await link.waitEnded('an oversize frame')
    await waitFor('the violation to be counted', async () => (await hub.status()).access.violations === before + 1)
  })
})

describe('refused peers', () => {
  it('a refused stranger is hung up at once, and strangers can never fill the slots the house needs', async () => {
    const MAX = 8
    const hub = await node('hub', { open: false, config: { maxConnections: MAX } })
    const addr = await hub.addr()
    const invite = await runCli(['invite', '--home', hub.home, '--name', 'kitchen'])
    expect(invite.code, invite.stderr).toBe(0)
    const kitchenHome = await homes.make('mm-kitchen-')
    const kitchen = new NodeProcess({ home: kitchenHome, name: 'kitchen', open: false, extraArgs: ['--join', invite.stdout.trim().split('\n').at(-1) ?? ''] })
    nodes.push(kitchen)
    await kitchen.start()
    await waitFor('the kitchen to link', async () => (await kitchen.status()).parent.state === 'linked')

    // strangers who say hello are refused, and their whole connection goes with the refusal
    const refused = await Promise.all(Array.from({ length: MAX / 2 - 1 }, async () => {
      const link = await peers.link(addr)
      const id = link.envelope({ kind: 'hello', body: helloBody('stranger') })
      const reply = await link.replyTo(id)
      await waitFor('the hub to hang up', () => peers.nodeOf(link).getConnections().length === 0)
      return (reply as ErrorFrame).body.code
    }))
    expect(refused).toEqual(Array.from({ length: MAX / 2 - 1 }, () => 'uninvited'))
    await peers.stopAll()

    // the kitchen goes away; a crowd of strangers that only connect and wait rush in: they get half the slots at most
    await kitchen.kill()
    const crowd = await Promise.all(Array.from({ length: MAX }, async () => peers.client()))
    await Promise.all(crowd.map(async stranger => stranger.dial(multiaddr(addr)).catch(() => undefined)))
    await waitFor('the hub to keep no more than half its slots for strangers', async () =>
      crowd.filter(stranger => stranger.getConnections().length > 0).length <= MAX / 2 && (await hub.status()).access.strangersTurnedAway > 0)

    // the kitchen comes back and links at once, the strangers still there
    const again = new NodeProcess({ home: kitchenHome, name: 'kitchen', open: false, plain: true })
    nodes.push(again)
    await again.start()
    await waitFor('the kitchen to link again', async () => (await again.status()).parent.state === 'linked', { timeoutMs: 5_000 })
  })

  it(`guessing invites: after ${FREE_FAILURES} failures a peer is refused at once and told how long to wait; one log line, not one per guess`, async () => {
    const hub = await node('hub', { open: false })
    const addr = await hub.addr()
    const guesser = await peers.client()
    const replies: Array<{ code: string, retryAfterMs?: number }> = []
    for (let guess = 0; guess < FREE_FAILURES + 3; guess++) {
      // each guess on a connection of its own: the hub hangs up after every refusal
      const link = await openLink(guesser, addr)
      const id = link.envelope({ kind: 'hello', body: helloBody('guesser', randomBytes(32).toString('base64url')) })
      replies.push((await link.replyTo(id)).body as { code: string, retryAfterMs?: number })
      await waitFor('the hub to hang up', () => guesser.getConnections().length === 0)
    }
    expect(replies.slice(0, FREE_FAILURES).map(reply => reply.code)).toEqual(Array.from({ length: FREE_FAILURES }, () => 'invite-unknown'))
    const waits = replies.slice(FREE_FAILURES)
    expect(waits.map(reply => reply.code)).toEqual(['rate-limited', 'rate-limited', 'rate-limited'])
    expect(waits[0]?.retryAfterMs).toBeGreaterThan(0)
    const lines = hub.logs.filter(line => line.level === WARN && line.peer === guesser.peerId.toString())
    expect(lines.length).toBeLessThanOrEqual(2)

    // an honest newcomer from the same address, with a real invite, is let in
    const invite = await runCli(['invite', '--home', hub.home, '--name', 'porch'])
    const porch = new NodeProcess({ home: await homes.make('mm-porch-'), name: 'porch', open: false, extraArgs: ['--join', invite.stdout.trim().split('\n').at(-1) ?? ''] })
    nodes.push(porch)
    await porch.start()
    await waitFor('the porch to link', async () => (await porch.status()).parent.state === 'linked')
  })
})

describe('user text in the log', () => {
  it(`an utterance of 100,000 characters makes no log line longer than a few hundred characters, and nobody is punished for it`, async () => {
    const hub = await rooms.room('hub')
    const kitchen = await rooms.room('kitchen', { parent: hub })
    const long = 'tell me about the weather '.repeat(4_000)
    kitchen.bus.emit({ type: 'complete_intent_failure', data: { utterances: [long], lang: 'en-US' }, context: {} })
    const said = await kitchen.node.waitForLog('the kitchen to give the utterance back', line => /cannot be asked of the mesh/.test(String(line.reason)))
    expect(said.reason).toMatch(/too_big|at most|2000/i)
    const longest = Math.max(...kitchen.node.logs.map(line => JSON.stringify(line).length))
    expect(longest).toBeLessThan(LOG_TEXT_LIMIT * 4)
    expect(kitchen.node.logs.some(line => /… \(1040\d\d characters\)/.test(line.msg))).toBe(true)
    expect((await hub.node.status()).access.violations).toBe(0)
  })
})

describe('goodbyes', () => {
  it('a parent that shuts down says so, and its child says what happened', async () => {
    const brain = await node('brain')
    const hub = await node('hub', { parent: await brain.addr() })
    await waitFor('the hub to link', async () => (await hub.status()).parent.state === 'linked')
    await brain.stop()
    const lost = await hub.waitForLog('the hub to say why it lost its parent', line => /link to parent lost/.test(line.msg))
    expect(lost.msg).toMatch(/link to parent lost \(the other side said goodbye: the parent is shutting down\)/)
  })
})
