/**
 * The link's heartbeat as a hub's owner meets it: idle children cost the hub nothing it sends of its own, a
 * child pings only a quiet link, and a dead link is still found within 15 s at the default heartbeat.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { waitFor } from '../../support/wait.ts'
import { RawPeers, type WireFrame } from '../helpers/raw-peer.ts'
import { Rooms } from '../helpers/rooms.ts'
import type { NodeProcess } from '../../support/node-process.ts'

const TEST_HEARTBEAT_MS = 500
const DEFAULT_HEARTBEAT_MS = 5_000

describe('heartbeat', () => {
  const rooms = new Rooms()
  const peers = new RawPeers()

  afterAll(async () => {
    await peers.stopAll()
    await rooms.cleanup()
  })

  async function node (name: string, options: { parent?: string, heartbeatMs?: number } = {}): Promise<NodeProcess> {
    return rooms.node({ name, heartbeatMs: TEST_HEARTBEAT_MS, ...options })
  }

  it('a parent never pings its children: an idle child hears only the answers to its own pings, and stays linked', async () => {
    const hub = await node('hub')
    const child = await peers.link(await hub.addr())
    await child.hello('quiet-child')
    const heard: WireFrame[] = []
    child.onFrame(received => heard.push(received))
    await new Promise(resolve => setTimeout(resolve, TEST_HEARTBEAT_MS * 6))
    expect(heard.filter(received => received.kind === 'ping')).toEqual([])
    expect(heard.filter(received => received.kind === 'pong').length).toBeGreaterThan(0)
    expect((await hub.status()).children.map(linked => linked.name)).toContain('quiet-child')
  })

  it('a child pings a quiet link about once an interval, and not at all while the link carries traffic both ways', async () => {
    const pings: number[] = []
    let chatty = false
    const parent = await peers.parent(link => {
      link.onFrame(received => {
        if (received.kind === 'hello') link.respond(received, 'welcome', { name: 'raw-parent', version: 'test', capabilities: [] })
        if (received.kind === 'ping') pings.push(Date.now())
      })
      // while chatty, the parent pings the child ten times an interval: the child's pongs are traffic both ways
      const chatter = setInterval(() => { if (chatty && link.writable) link.envelope({ kind: 'ping', body: { t: performance.now() } }) }, TEST_HEARTBEAT_MS / 10)
      void waitFor('the link to end', () => link.ended, { timeoutMs: 120_000 }).catch(() => {}).finally(() => { clearInterval(chatter) })
    })
    const kitchen = await node('kitchen', { parent: parent.addr })
    await waitFor('the kitchen to link', async () => (await kitchen.status()).parent.state === 'linked')

    const quietFrom = Date.now()
    await new Promise(resolve => setTimeout(resolve, TEST_HEARTBEAT_MS * 8))
    const quietPings = pings.filter(at => at >= quietFrom).length
    expect(quietPings).toBeGreaterThanOrEqual(6)
    expect(quietPings).toBeLessThanOrEqual(9)

    chatty = true
    await new Promise(resolve => setTimeout(resolve, TEST_HEARTBEAT_MS * 2))
    const chattyFrom = Date.now()
    await new Promise(resolve => setTimeout(resolve, TEST_HEARTBEAT_MS * 6))
    expect(pings.filter(at => at >= chattyFrom)).toEqual([])
    expect((await kitchen.status()).parent.state).toBe('linked')
  })

  it('a frozen child is found dead within 15 s at the default 5 s heartbeat; thawed, it links again', async () => {
    const hub = await node('hall', { heartbeatMs: DEFAULT_HEARTBEAT_MS })
    const porch = await node('porch', { parent: await hub.addr(), heartbeatMs: DEFAULT_HEARTBEAT_MS })
    await waitFor('the porch to link', async () => (await porch.status()).parent.state === 'linked')

    // SIGSTOP: the process is there, its connection open, and it says nothing: only the heartbeat can tell
    process.kill(porch.pid as number, 'SIGSTOP')
    const frozenAt = Date.now()
    try {
      const unlinked = await hub.waitForLog('the hub to drop the frozen porch', line => line.msg === 'child porch unlinked', 20_000)
      expect(String(unlinked.reason)).toMatch(/no heartbeat for \d+\.\d s/)
      expect(Date.now() - frozenAt).toBeLessThanOrEqual(15_000)
    } finally {
      process.kill(porch.pid as number, 'SIGCONT')
    }
    await waitFor('the thawed porch to link again', async () => (await hub.status()).children.some(linked => linked.name === 'porch'), { timeoutMs: 30_000 })
  }, 90_000)
})
