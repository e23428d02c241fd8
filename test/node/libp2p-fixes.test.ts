import { Socket } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import type { Logger } from '../../src/common/index.ts'
import { batchYamuxWindowUpdates, installedVersion, linearGetConnections, renewDrainWaits } from '../../src/node/index.ts'
import { linkPeer, serveKind } from '../../support/link-peer.ts'
import { waitFor } from '../../support/wait.ts'

const stops: Array<() => Promise<void>> = []
afterEach(async () => { for (const stop of stops.splice(0)) await stop() })

/** Counts socket writes by local port while `run` runs. */
async function countWrites (run: () => Promise<void>): Promise<Map<number, number>> {
  const writes = new Map<number, number>()
  const write = Reflect.get(Socket.prototype, 'write') as (this: Socket, ...args: unknown[]) => boolean
  Object.defineProperty(Socket.prototype, 'write', {
    configurable: true,
    writable: true,
    value: function (this: Socket, ...args: unknown[]) {
      writes.set(this.localPort ?? 0, (writes.get(this.localPort ?? 0) ?? 0) + 1)
      return write.apply(this, args)
    }
  })
  try {
    await run()
  } finally {
    Reflect.deleteProperty(Socket.prototype, 'write')
  }
  return writes
}

describe('yamux window updates', () => {
  it('a receiving stream gives its window back in batches, and transfers many times the window still complete', async () => {
    const sink = await linkPeer('sink', ['/ip4/127.0.0.1/tcp/0'])
    const source = await linkPeer('source')
    stops.push(async () => { await source.stop(); await sink.stop() })
    let envelopes = 0
    let bytes = 0
    serveKind(sink.services.link, 'blob', envelope => { envelopes++; bytes += envelope.attachment?.byteLength ?? 0 })
    const { session } = await source.services.link.linkToParent([multiaddr(sink.getMultiaddrs()[0]?.toString() ?? '')])
    const sinkPort = Number(sink.getMultiaddrs()[0]?.toString().split('/')[4])

    const small = await countWrites(async () => {
      for (let i = 0; i < 200; i++) {
        await session.send('blob', { i })
        await new Promise(resolve => setImmediate(resolve))
      }
      await waitFor('200 small envelopes', () => envelopes === 200)
    })
    // unbatched, the sink answered each data frame with a window update of its own
    expect(small.get(sinkPort) ?? 0).toBeLessThan(10)

    const attachment = new Uint8Array(192 * 1024).fill(7)
    for (let i = 0; i < 100; i++) await session.send('blob', {}, { attachment })
    await waitFor('19 MiB, many times the receive window', () => bytes === 100 * attachment.byteLength, { timeoutMs: 30_000 })
  })
})

/** A logger that keeps what it writes, to read the warnings of the fixes. */
function capturingLog (): { log: Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'warn' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  return { log, lines }
}

describe('linear getConnections', () => {
  it('lists every connection, and a peer\'s own, as the connection manager does, on a node with several peers', async () => {
    const hub = await linkPeer('hub', ['/ip4/127.0.0.1/tcp/0'])
    const others = await Promise.all(['a', 'b', 'c'].map(async name => linkPeer(name)))
    stops.push(async () => { for (const node of [...others, hub]) await node.stop() })
    const addr = multiaddr(hub.getMultiaddrs()[0]?.toString() ?? '')
    for (const other of others) await other.services.link.linkToParent([addr])
    await waitFor('the hub to hold three connections', () => hub.getConnections().length === 3)

    const byPeer = others.map(other => hub.getConnections(other.peerId))
    expect(byPeer.map(connections => connections.length)).toEqual([1, 1, 1])
    expect(new Set(hub.getConnections().map(connection => connection.id))).toEqual(new Set(byPeer.flat().map(connection => connection.id)))
  })

  it('says at warn level, naming the package and its version, when the internals it patches are not there', () => {
    const { log, lines } = capturingLog()
    // a test double: a node whose connection manager has none of the internals the fix patches
    const bare = { components: { connectionManager: {} } } as unknown as Parameters<typeof linearGetConnections>[0]
    expect(linearGetConnections(bare, log)).toBe(false)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 40, fix: 'linear getConnections', package: 'libp2p', version: installedVersion('libp2p') })
    expect(String(lines[0]?.msg)).toMatch(/cannot apply to libp2p 3\.\d+\.\d+/)
  })

  it('applies silently to the libp2p this project pins', async () => {
    const { log, lines } = capturingLog()
    const node = await linkPeer('plain')
    stops.push(async () => { await node.stop() })
    expect(linearGetConnections(node, log)).toBe(true)
    expect(batchYamuxWindowUpdates(log)).toBe(true)
    expect(renewDrainWaits(log)).toBe(true)
    expect(lines).toEqual([])
  })
})

describe('one write per message', () => {
  it('each frame a link sends leaves its socket in one system call, length and ciphertext together', async () => {
    const sink = await linkPeer('sink', ['/ip4/127.0.0.1/tcp/0'])
    const source = await linkPeer('source')
    stops.push(async () => { await source.stop(); await sink.stop() })
    let envelopes = 0
    serveKind(sink.services.link, 'note', () => { envelopes++ })
    const { session } = await source.services.link.linkToParent([multiaddr(sink.getMultiaddrs()[0]?.toString() ?? '')])

    // a socket hands the kernel one buffer through _write, several gathered ones through _writev
    const calls = { write: 0, writev: 0 }
    const socket = Socket.prototype as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>
    const { _write: write, _writev: writev } = socket
    socket._write = function (...args: unknown[]) { calls.write++; return write.apply(this, args) }
    socket._writev = function (...args: unknown[]) { calls.writev++; return writev.apply(this, args) }
    try {
      for (let i = 0; i < 20; i++) {
        await session.send('note', { i })
        await waitFor(`note ${i} to arrive`, () => envelopes === i + 1)
      }
    } finally {
      socket._write = write
      socket._writev = writev
    }
    // unpatched, every Noise message took two: its two-byte length, then its ciphertext
    expect(calls.write + calls.writev).toBeLessThanOrEqual(20)
  })
})

describe('a promise per drain wait', () => {
  it('a writer that waits for drain keeps waiting while the reader stalls, after the stream drained once before', async () => {
    const sink = await linkPeer('sink', ['/ip4/127.0.0.1/tcp/0'])
    const source = await linkPeer('source')
    stops.push(async () => { await source.stop(); await sink.stop() })
    let received = 0
    await sink.handle('/test/stalling/1.0.0', stream => {
      stream.addEventListener('message', event => {
        received += event.data.byteLength
        // the reader takes the first MiB, then stops reading: yamux then withholds the writer's window
        if (received >= 1024 * 1024 && stream.readStatus === 'readable') stream.pause()
      })
    })
    const stream = await source.dialProtocol(multiaddr(sink.getMultiaddrs()[0]?.toString() ?? ''), '/test/stalling/1.0.0')
    const chunk = new Uint8Array(64 * 1024).fill(1)
    let drains = 0
    let stalled = false
    for (let sent = 0; sent < 32 * 1024 * 1024 && !stalled; sent += chunk.byteLength) {
      if (stream.send(chunk)) continue
      try {
        await stream.onDrain({ signal: AbortSignal.timeout(1_000) })
        drains++
      } catch {
        stalled = true
      }
    }
    expect(drains).toBeGreaterThan(0)
    // unpatched, every wait after the first drain returned at once: the loop queued all 32 MiB in the stream
    expect(stalled).toBe(true)
    expect(stream.writeBufferLength).toBeLessThan(2 * 1024 * 1024)
  })
})
