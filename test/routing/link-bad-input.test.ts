import * as varint from 'uint8-varint'
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest'
import { HANDSHAKE_TIMEOUT_MS, MAX_FRAME_BYTES } from '../../src/routing/index.ts'
import { Homes, NodeProcess, type LogLine } from '../../support/node-process.ts'
import { frame, openLink, RawPeers, type ErrorFrame, type Muxer, type RawLink } from '../helpers/raw-peer.ts'
import { waitFor } from '../../support/wait.ts'

/**
 * Bad input on the link protocol, sent by a hand-made libp2p peer to a real parent node process that also
 * serves a real, healthy child. Every bad stream must get an `error` frame or be closed with a logged reason,
 * while the healthy child stays linked and the parent keeps running.
 */

/** The parent's heartbeat: the link is dead after MISSED_BEATS (2) silent intervals. */
const HEARTBEAT_MS = 500
const WARN = 40

describe('the link protocol under bad input from a raw peer', () => {
  const homes = new Homes()
  const peers = new RawPeers()
  let parent: NodeProcess
  let child: NodeProcess
  let parentAddr: string
  let parentPeerId: string
  let linkedSince: string | null

  beforeAll(async () => {
    parent = await new NodeProcess({ home: await homes.make('mm-bad-hub-'), name: 'hub', heartbeatMs: HEARTBEAT_MS }).start()
    parentAddr = await parent.addr()
    parentPeerId = (await parent.status()).peerId
    child = await new NodeProcess({ home: await homes.make('mm-bad-kitchen-'), name: 'kitchen', parent: parentAddr, heartbeatMs: HEARTBEAT_MS }).start()
    const linked = await waitFor('the healthy child to link', async () => {
      const status = await child.status()
      return status.parent.state === 'linked' ? status : undefined
    })
    linkedSince = linked.parent.since
  })

  afterAll(async () => {
    await peers.stopAll()
    await Promise.all([child?.kill(), parent?.kill()])
    await homes.cleanup()
  })

  /** A fresh peer (own key, own connection) with one raw link stream to the parent. */
  async function rawLink (muxer: Muxer): Promise<RawLink> {
    return peers.link(parentAddr, muxer)
  }

  /** The parent's warn lines about one raw peer. */
  const warnings = (link: RawLink): LogLine[] => parent.logs.filter(line => line.peer === link.peerId && line.level === WARN)

  async function waitForWarning (link: RawLink, match: (line: LogLine) => boolean, what: string): Promise<LogLine> {
    return waitFor(`the parent to log a warning: ${what} (its warnings for this peer: ${JSON.stringify(warnings(link))})`,
      () => warnings(link).find(match))
  }

  /** The healthy child is still linked on the very link it had at the start, and the parent still answers. */
  async function expectOthersServed (ctx: TestContext): Promise<void> {
    const [childStatus, parentStatus] = await Promise.all([child.status(), parent.status()])
    ctx.expect(childStatus.parent).toMatchObject({ state: 'linked', peerId: parentPeerId, since: linkedSince, attempts: 0 })
    ctx.expect(parentStatus.children.map(c => c.name)).toContain('kitchen')
  }

  function expectErrorFrame (ctx: TestContext, error: ErrorFrame, code: string): void {
    ctx.expect(error).toMatchObject({ v: 1, kind: 'error', from: parentPeerId, body: { code } })
    ctx.expect(typeof error.body.message).toBe('string')
  }

  describe.concurrent.each<Muxer>(['yamux', 'mplex'])('over %s', muxer => {
    describe.concurrent('bytes that cannot be split into frames: an error frame, then the stream is closed', () => {
      it('garbage bytes whose length prefix never ends', async (ctx) => {
        const link = await rawLink(muxer)
        link.raw(new Uint8Array(64).fill(0xff))
        const error = await link.nextError()
        expectErrorFrame(ctx, error, 'oversize')
        await link.waitEnded('garbage')
        await waitForWarning(link, line => line.msg === 'closing link: unreadable byte stream', 'unreadable byte stream')
        await expectOthersServed(ctx)
      })

      it('a length prefix over 256 KiB, with that much data behind it', async (ctx) => {
        const link = await rawLink(muxer)
        const oversize = new Uint8Array(MAX_FRAME_BYTES + 1).fill(0x61)
        link.raw(frame(oversize))
        const error = await link.nextError()
        expectErrorFrame(ctx, error, 'oversize')
        ctx.expect(error.body.message).toContain(`${MAX_FRAME_BYTES}-byte cap`)
        await link.waitEnded('an oversize frame')
        const warning = await waitForWarning(link, line => line.msg === 'closing link: unreadable byte stream', 'oversize frame')
        ctx.expect(String(warning.reason)).toMatch(/over the 262144-byte cap/)
        await expectOthersServed(ctx)
      })

      it('a length prefix over 256 KiB after a completed handshake', async (ctx) => {
        const link = await rawLink(muxer)
        await link.hello(`raw-oversize-${muxer}`)
        link.raw(varint.encode(1024 * 1024))
        expectErrorFrame(ctx, await link.nextError(), 'oversize')
        await link.waitEnded('an oversize prefix')
        await waitFor('the parent to drop the raw child', async () =>
          !(await parent.status()).children.some(c => c.name === `raw-oversize-${muxer}`))
        await expectOthersServed(ctx)
      })

      it('an empty frame', async (ctx) => {
        const link = await rawLink(muxer)
        link.raw(new Uint8Array([0, 0, 0, 0]))
        expectErrorFrame(ctx, await link.nextError(), 'malformed')
        await link.waitEnded('an empty frame')
        await waitForWarning(link, line => line.msg === 'closing link: unreadable byte stream', 'empty frame')
        await expectOthersServed(ctx)
      })
    })

    describe.concurrent('before hello, the first frame that cannot be taken: an error frame, then the stream is closed', () => {
      it('a frame that is not JSON', async (ctx) => {
        const link = await rawLink(muxer)
        link.raw(frame('GET / HTTP/1.1\r\nHost: hub\r\n\r\n'))
        link.raw(frame(new Uint8Array([0xc3, 0x28, 0xff, 0xfe, 0x00, 0x01])))
        const error = await link.nextError()
        expectErrorFrame(ctx, error, 'malformed')
        ctx.expect(error.re).toBeUndefined()
        await link.waitEnded('a frame that is not JSON')
        // the second frame was never answered: garbage is not answered one for one
        ctx.expect(link.frames.filter(f => f.kind === 'error')).toHaveLength(1)
        await waitForWarning(link, line => line.msg === 'closing link: a bad frame before the handshake was done' && line.code === 'malformed', 'bad frame before hello')
        await expectOthersServed(ctx)
      })

      it('JSON that does not fit the envelope schema', async (ctx) => {
        const link = await rawLink(muxer)
        const id = link.envelope({ kind: 'hello', ttl: 'lots' })
        const error = await link.nextError()
        expectErrorFrame(ctx, error, 'invalid')
        ctx.expect(error.re).toBe(id)
        ctx.expect(error.body.message).toContain("envelope field 'ttl'")
        await link.waitEnded('an invalid envelope before hello')
        await waitForWarning(link, line => line.code === 'invalid', 'invalid envelope')
        await expectOthersServed(ctx)
      })

      it('an unknown envelope version', async (ctx) => {
        const link = await rawLink(muxer)
        const id = link.envelope({ v: 99, kind: 'hello', body: { name: 'from-the-future' } })
        const error = await link.nextError()
        expectErrorFrame(ctx, error, 'unsupported-version')
        ctx.expect(error.re).toBe(id)
        ctx.expect(error.body.message).toMatch(/version 99 is not supported.*version 1/)
        await link.waitEnded('an unknown version before hello')
        await waitForWarning(link, line => line.code === 'unsupported-version', 'unsupported version')
        await expectOthersServed(ctx)
      })

      it('a second link from the same peer right after a failed handshake costs it the connection', async (ctx) => {
        const link = await rawLink(muxer)
        link.raw(frame('not json'))
        await link.waitEnded('a bad first frame')
        const node = peers.nodeOf(link)
        await waitFor('the connection to stay up after the first failure', () => node.getConnections().length === 1)
        const again = await openLink(node, parentAddr).catch(() => undefined)
        again?.trySend(frame(JSON.stringify({ v: 1, id: 'again', kind: 'hello', from: link.peerId, ttl: 16, route: [], body: { name: 'again', version: 'test', capabilities: [] } })))
        await waitFor('the parent to hang up the whole connection', () => node.getConnections().length === 0)
        ctx.expect(again?.frames.some(f => f.kind === 'welcome') ?? false).toBe(false)
        await expectOthersServed(ctx)
      })
    })

    describe.concurrent('after hello, frames that cannot be taken: an error frame, counted as a violation, the stream open', () => {
      it('bad frames of every sort', async (ctx) => {
        const link = await rawLink(muxer)
        const name = `raw-bad-after-hello-${muxer}`
        await link.hello(name)
        const before = (await parent.status()).access.violations
        link.raw(frame('not json'))
        const invalid = link.envelope({ kind: 'ask', ttl: 'lots' })
        const future = link.envelope({ v: 99, kind: 'ask' })
        expectErrorFrame(ctx, await link.nextError(), 'malformed')
        const second = await link.nextError()
        expectErrorFrame(ctx, second, 'invalid')
        ctx.expect(second.re).toBe(invalid)
        const third = await link.nextError()
        expectErrorFrame(ctx, third, 'unsupported-version')
        ctx.expect(third.re).toBe(future)
        await waitFor('three violations counted', async () => (await parent.status()).access.violations >= before + 3)
        const ping = link.envelope({ kind: 'ping', body: { t: 1 } })
        ctx.expect((await link.next('pong')).re).toBe(ping)
        ctx.expect(link.ended).toBe(false)
        await expectOthersServed(ctx)
      })

      it('an unknown kind after hello and welcome', async (ctx) => {
        const link = await rawLink(muxer)
        const name = `raw-unknown-${muxer}`
        const welcome = await link.hello(name)
        ctx.expect(welcome).toMatchObject({ from: parentPeerId, body: { name: 'hub' } })
        await waitFor('the parent to list the raw child', async () => (await parent.status()).children.some(c => c.name === name))

        const id = link.envelope({ kind: 'teleport', body: { to: 'the moon' } })
        const error = await link.nextError()
        expectErrorFrame(ctx, error, 'unknown-kind')
        ctx.expect(error.re).toBe(id)
        ctx.expect(error.body.message).toContain("'teleport'")
        const warning = await waitForWarning(link, line => line.code === 'unknown-kind', 'unknown kind')
        ctx.expect(warning.msg).toContain(`dropped a frame from ${name}`)

        // the link survives: a ping is still answered, and the raw peer is still a child
        const ping = link.envelope({ kind: 'ping', body: { t: 1 } })
        ctx.expect((await link.next('pong')).re).toBe(ping)
        ctx.expect(link.ended).toBe(false)
        ctx.expect((await parent.status()).children.map(c => c.name)).toContain(name)
        await expectOthersServed(ctx)
      })
    })

    describe.concurrent('peers that break the handshake or stop answering: the stream is closed with a logged reason', () => {
      it('a frame before hello gets a handshake error, then the stream is closed', async (ctx) => {
        const link = await rawLink(muxer)
        const id = link.envelope({ kind: 'ask', body: { utterance: 'what time is it' } })
        const error = await link.nextError()
        expectErrorFrame(ctx, error, 'handshake')
        ctx.expect(error.re).toBe(id)
        ctx.expect(error.body.message).toContain('expected hello, got ask')
        await link.waitEnded('a frame before hello')
        await waitForWarning(link, line => /before the handshake/.test(line.msg), 'frame before hello')
        await expectOthersServed(ctx)
      })

      it('an unreadable hello gets an invalid error, then the stream is closed', async (ctx) => {
        const link = await rawLink(muxer)
        const id = link.envelope({ kind: 'hello', body: { name: '', capabilities: 'all' } })
        const error = await link.nextError()
        expectErrorFrame(ctx, error, 'invalid')
        ctx.expect(error.re).toBe(id)
        ctx.expect(error.body.message).toMatch(/hello field '/)
        await link.waitEnded('an unreadable hello')
        await waitForWarning(link, line => /unreadable hello/.test(line.msg), 'unreadable hello')
        await expectOthersServed(ctx)
      })

      it('half a frame after the handshake, then silence: closed when the frame is not finished within two heartbeats', async (ctx) => {
        const link = await rawLink(muxer)
        const name = `raw-silent-${muxer}`
        await link.hello(name)
        link.alive = false
        const half = frame(JSON.stringify({ v: 1, id: 'half', kind: 'ping', from: link.peerId, ttl: 16, route: [], body: { t: 1 } }))
        link.raw(half.subarray(0, Math.floor(half.byteLength / 2)))
        const sentAt = Date.now()

        // two heartbeat intervals, noticed within a quarter interval: about 1.1 s with the 500 ms heartbeat
        await link.waitEnded('half a frame and silence', 10_000)
        const tookMs = Date.now() - sentAt
        ctx.expect(tookMs).toBeGreaterThanOrEqual(HEARTBEAT_MS * 2 - 100)
        ctx.expect(tookMs).toBeLessThan(HEARTBEAT_MS * 2 + 3_000)
        const unlinked = await parent.waitForLog('the parent to log why it dropped the silent peer',
          line => line.peer === link.peerId && line.msg === `child ${name} unlinked`)
        // the frame left unfinished, or the parent's first ping, which came after this end stopped answering
        ctx.expect(String(unlinked.reason)).toMatch(/a frame begun \d+\.\d s ago is still unfinished|no answer for \d+\.\d s/)
        ctx.expect((await parent.status()).children.map(c => c.name)).not.toContain(name)
        await expectOthersServed(ctx)
      })

      it('a frame trickled a byte at a time after the handshake: bytes are not a heartbeat, closed at the deadline', async (ctx) => {
        const link = await rawLink(muxer)
        const name = `raw-trickle-${muxer}`
        await link.hello(name)
        link.alive = false
        const whole = frame(JSON.stringify({ v: 1, id: 'trickle', kind: 'ping', from: link.peerId, ttl: 16, route: [], body: { t: 1, pad: 'x'.repeat(200) } }))
        let sent = 0
        // a byte every fifth of a heartbeat: the link hears something all the time, never a whole frame
        const trickle = setInterval(() => { if (sent < whole.byteLength - 1 && link.trySend(whole.subarray(sent, sent + 1))) sent++ }, HEARTBEAT_MS / 5)
        try {
          await link.waitEnded('a trickle that never makes a frame', 10_000)
        } finally {
          clearInterval(trickle)
        }
        ctx.expect(sent).toBeLessThan(whole.byteLength - 1)
        const unlinked = await parent.waitForLog('the parent to log why it dropped the trickling peer',
          line => line.peer === link.peerId && line.msg === `child ${name} unlinked`)
        ctx.expect(String(unlinked.reason)).toMatch(/a frame begun \d+\.\d s ago is still unfinished|no answer for \d+\.\d s/)
        await expectOthersServed(ctx)
      })

      it(`half a frame before hello, then silence: closed at the ${HANDSHAKE_TIMEOUT_MS / 1000} s hello timeout`, async (ctx) => {
        const link = await rawLink(muxer)
        const half = frame(JSON.stringify({ v: 1, id: 'half-hello', kind: 'hello', from: link.peerId, ttl: 16, route: [], body: {} }))
        link.raw(half.subarray(0, 8))
        const sentAt = Date.now()
        // the deadline is the node's; what it takes a loaded machine to deliver the error on top is not
        const error = await link.nextError(HANDSHAKE_TIMEOUT_MS + 15_000)
        expectErrorFrame(ctx, error, 'handshake')
        ctx.expect(error.body.message).toBe('no hello in time')
        ctx.expect(Date.now() - sentAt).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 1_000)
        await link.waitEnded('no hello in time')
        await waitForWarning(link, line => line.msg === 'closing link: no hello in time', 'no hello in time')
        await expectOthersServed(ctx)
      })
    })
  })

  describe('afterwards', () => {
    it('the parent is still running and serving, and the healthy child never lost its link', async () => {
      const [childStatus, parentStatus] = await Promise.all([child.status(), parent.status()])
      expect(childStatus.parent).toMatchObject({ state: 'linked', peerId: parentPeerId, since: linkedSince, attempts: 0, lastError: null })
      expect(childStatus.parent.rttMs).not.toBeNull()
      expect(parentStatus.children.map(c => c.name)).toContain('kitchen')
      expect(parentStatus.link.unknownKinds).toBeGreaterThanOrEqual(2)
      expect(parent.logs.filter(line => line.level >= 50)).toEqual([])
      expect(parent.stderr).not.toMatch(/unhandled|TypeError|RangeError/i)

      // and a newcomer can still link
      const link = await rawLink('yamux')
      await link.hello('late-comer')
      await waitFor('the newcomer to be listed', async () => (await parent.status()).children.some(c => c.name === 'late-comer'))
    })
  })
})
