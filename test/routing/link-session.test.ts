import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { linkPeer, serveKind } from '../../support/link-peer.ts'
import { waitFor } from '../../support/wait.ts'
import type { LinkSession } from '../../src/routing/index.ts'

const stops: Array<() => Promise<void>> = []
afterEach(async () => { for (const stop of stops.splice(0)) await stop() })

async function linkedPair (): Promise<{ parent: Awaited<ReturnType<typeof linkPeer>>, session: LinkSession }> {
  const parent = await linkPeer('parent', ['/ip4/127.0.0.1/tcp/0'])
  const child = await linkPeer('child')
  stops.push(async () => { await child.stop(); await parent.stop() })
  const { session } = await child.services.link.linkToParent([multiaddr(parent.getMultiaddrs()[0]?.toString() ?? '')])
  return { parent, session }
}

describe('a link session sending many envelopes at once', () => {
  it('delivers a burst of small envelopes and attachments, sent in one tick, whole and in order', async () => {
    const { parent, session } = await linkedPair()
    const arrived: Array<{ n: number, bytes: number }> = []
    serveKind(parent.services.link, 'item', envelope => {
      arrived.push({ n: (envelope.body as { n: number }).n, bytes: envelope.attachment?.byteLength ?? 0 })
    })
    const attachment = new Uint8Array(100_000).fill(9)
    const sent: Array<Promise<unknown>> = []
    for (let n = 0; n < 5_000; n++) sent.push(session.send('item', { n }, n % 500 === 0 ? { attachment } : {}))
    await Promise.all(sent)
    await waitFor('5,000 envelopes', () => arrived.length === 5_000, { timeoutMs: 20_000 })
    expect(arrived.map(item => item.n)).toEqual(Array.from({ length: 5_000 }, (_, n) => n))
    expect(arrived.filter(item => item.bytes === attachment.byteLength)).toHaveLength(10)
  })

  it('still delivers what was sent just before it closes, and its goodbye', async () => {
    const { parent, session } = await linkedPair()
    const arrived: number[] = []
    serveKind(parent.services.link, 'item', envelope => { arrived.push((envelope.body as { n: number }).n) })
    await waitFor('the parent to list the child', () => parent.services.link.children.size === 1)
    const [child] = parent.services.link.children.values()
    for (let n = 0; n < 3; n++) void session.send('item', { n })
    await session.close('moving house')
    expect(await child?.session.closed).toBe('the other side said goodbye: moving house')
    expect(arrived).toEqual([0, 1, 2])
  })
})
