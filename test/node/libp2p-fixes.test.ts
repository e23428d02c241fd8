import { Socket } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
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
