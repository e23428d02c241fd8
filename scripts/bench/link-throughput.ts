/**
 * What one link carries: bytes per second one way over `/mycroft-mesh/link/1.0.0` (envelopes with attachments,
 * Noise, yamux) to a link peer in another process, beside a bare libp2p stream over the same stack; and bus
 * messages per second from a parent's bus, across the link, onto a child's bus.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import { linkPeer } from '../../support/link-peer.ts'
import { startMeshPair } from './mesh-pair.ts'

/** A protocol with no framing at all: the libp2p stack's own figure. */
export const BARE_STREAM_PROTOCOL = '/mycroft-mesh/bench/bare/1.0.0'

/** Bytes sent back as they come: a round trip of the libp2p stack alone. */
export const ECHO_STREAM_PROTOCOL = '/mycroft-mesh/bench/echo/1.0.0'

/** Round trips of `bytes` over a bare libp2p stream (same TCP, Noise, yamux) to a peer in another process, in ms. */
export async function bareStreamRoundTrip (samples: number, bytes = 200): Promise<number[]> {
  const { addr, stop } = await startSink()
  const node = await linkPeer('source')
  try {
    const stream = await node.dialProtocol(multiaddr(addr), ECHO_STREAM_PROTOCOL)
    const payload = new Uint8Array(bytes).fill(120)
    const times: number[] = []
    for (let i = 0; i < samples; i++) {
      let got = 0
      const started = performance.now()
      await new Promise<void>(resolve => {
        const onMessage = (event: { data: { byteLength: number } }): void => {
          got += event.data.byteLength
          if (got < bytes) return
          stream.removeEventListener('message', onMessage)
          resolve()
        }
        stream.addEventListener('message', onMessage)
        stream.send(payload)
      })
      times.push(performance.now() - started)
    }
    return times
  } finally {
    await node.stop()
    stop()
  }
}

/**
 * Payload bytes per second one way: `chunkBytes`-sized envelopes over a link, and the same bytes over a bare
 * stream to the same peer, in interleaved rounds (a warm-up of each first, then each round in the other order
 * than the last), so that neither is measured on a colder or busier machine than the other.
 */
export async function linkBytesPerSecond (bytes: number, chunkBytes: number, rounds: number): Promise<{ link: number[], bare: number[] }> {
  const { addr, stop } = await startSink()
  const node = await linkPeer('source')
  try {
    const { session } = await node.services.link.linkToParent([multiaddr(addr)])
    const chunk = new Uint8Array(chunkBytes).fill(120)
    const overLink = async (total: number): Promise<number> => {
      const started = performance.now()
      for (let sent = 0; sent < total; sent += chunkBytes) await session.send('blob', {}, { attachment: chunk })
      const reply = await session.request('blob-end', {}, { timeoutMs: 120_000 })
      const received = (reply.body as { bytes: number }).bytes
      if (received < total) throw new Error(`the sink had ${received} of ${total} bytes`)
      return total / ((performance.now() - started) / 1000)
    }
    const warmUp = Math.min(bytes, 32 * 2 ** 20)
    await overLink(warmUp)
    await sendBare(node, addr, warmUp, chunk)
    const link: number[] = []
    const bare: number[] = []
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 0) {
        link.push(await overLink(bytes))
        bare.push(await sendBare(node, addr, bytes, chunk))
      } else {
        bare.push(await sendBare(node, addr, bytes, chunk))
        link.push(await overLink(bytes))
      }
    }
    return { link, bare }
  } finally {
    await node.stop()
    stop()
  }
}

/** The sink process (link-sink.ts) and its address. */
async function startSink (): Promise<{ addr: string, stop: () => void }> {
  const sink = spawn(process.execPath, [fileURLToPath(new URL('./link-sink.ts', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] })
  const addr = await new Promise<string>((resolve, reject) => {
    let text = ''
    sink.stdout.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; if (text.includes('\n')) resolve(text.trim()) })
    sink.once('exit', code => { reject(new Error(`link sink exited with ${code}`)) })
  })
  return { addr, stop: () => { sink.kill() } }
}

/** `bytes` over a bare libp2p stream (no framing at all) to a sink in another process: the stack's own bytes per second. */
export async function bareStreamBytesPerSecond (bytes: number, chunkBytes: number): Promise<number> {
  const { addr, stop } = await startSink()
  const node = await linkPeer('source')
  try {
    return await sendBare(node, addr, bytes, new Uint8Array(chunkBytes).fill(120))
  } finally {
    await node.stop()
    stop()
  }
}

async function sendBare (node: Libp2p, addr: string, bytes: number, chunk: Uint8Array): Promise<number> {
  const stream = await node.dialProtocol(multiaddr(addr), BARE_STREAM_PROTOCOL)
  const done = new Promise(resolve => { stream.addEventListener('message', resolve, { once: true }) })
  const length = new Uint8Array(8)
  new DataView(length.buffer).setFloat64(0, bytes)
  const started = performance.now()
  stream.send(length)
  for (let sent = 0; sent < bytes; sent += chunk.byteLength) {
    if (!stream.send(chunk)) await stream.onDrain({ signal: AbortSignal.timeout(60_000) })
  }
  await done
  return bytes / ((performance.now() - started) / 1000)
}

/** Bus messages per second from the parent's bus to the child's, as a skill addressing a child would send them. */
export async function linkBusMessagesPerSecond (messages: number, log: (line: string) => void): Promise<number> {
  const pair = await startMeshPair()
  try {
    let arrived = 0
    let lastAt = 0
    const all = new Promise<void>(resolve => {
      pair.childBus.onMessage(message => {
        if (message.type !== 'speak' || message.data.bench !== true) return
        lastAt = performance.now()
        if (++arrived === messages) resolve()
      })
    })
    const started = performance.now()
    for (let i = 0; i < messages; i++) {
      pair.parentBus.emit({ type: 'speak', data: { utterance: `message ${i}`, lang: 'en-US', bench: true }, context: { source: 'skills', destination: 'kitchen' } })
      if (i % 500 === 499) await new Promise(resolve => setImmediate(resolve))
    }
    const timer = setTimeout(() => { log(`bus messages: only ${arrived} of ${messages} arrived`) }, 60_000)
    await all
    clearTimeout(timer)
    return messages / ((lastAt - started) / 1000)
  } finally {
    await pair.close()
  }
}
