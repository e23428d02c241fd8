import { randomUUID } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { mplex } from '@libp2p/mplex'
import { tcp } from '@libp2p/tcp'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import * as varint from 'uint8-varint'
import { concat } from 'uint8arrays/concat'
import { expect } from 'vitest'
import { LINK_PROTOCOL, MAX_FRAME_BYTES } from '../../src/routing/index.ts'
import { waitFor } from '../../support/wait.ts'
import type { PrivateKey, Stream, StreamCloseEvent } from '@libp2p/interface'

/**
 * A hand-made libp2p peer that speaks `/mycroft-mesh/link/1.0.0` byte by byte, without the project's own link
 * code: it writes whatever frames a test wants (valid, malformed, hostile) and records what the real node
 * process on the other side sends back. It can dial a node as a child, or listen and play a node's parent.
 */

export type Muxer = 'yamux' | 'mplex'

/** A frame as it travels, read without validation. */
export interface WireFrame {
  v: number
  id: string
  kind: string
  from: string
  re?: string
  body: unknown
}

export interface ErrorFrame extends WireFrame {
  body: { code: string, message: string }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A length prefix and any payload, valid or not. */
export function frame (payload: string | Uint8Array): Uint8Array {
  const bytes = typeof payload === 'string' ? encoder.encode(payload) : payload
  return concat([varint.encode(bytes.byteLength), bytes])
}

/** A bare libp2p node with the transports and muxers a mesh node speaks, and no services of its own. */
export async function rawClient (muxers: Muxer | Muxer[] = 'yamux', { listen = [] as string[], privateKey }: { listen?: string[], privateKey?: PrivateKey } = {}): Promise<Libp2p> {
  const wanted = Array.isArray(muxers) ? muxers : [muxers]
  return createLibp2p({
    privateKey,
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: wanted.map(muxer => muxer === 'yamux' ? yamux() : mplex())
  })
}

/** well inside the tests' 500 ms heartbeat */
const KEEP_ALIVE_MS = 300

/** One raw `/mycroft-mesh/link/1.0.0` stream: writes whatever bytes a test wants, records what comes back. */
export class RawLink {
  readonly frames: WireFrame[] = []
  remoteClosedWrite = false
  closeEvent?: StreamCloseEvent
  /** Behave as a live peer: answer the other side's pings (and ping, when `pings` says so). */
  alive = true
  /**
   * At the child end of a link, ping whenever this end has sent nothing for KEEP_ALIVE_MS: a test's raw child then
   * never stays quiet long enough for a parent to drop it, whatever the test does with the stream.
   */
  pings = true
  readonly stream: Stream
  /** this end's peer id, sent as `from` */
  readonly peerId: string
  /** the peer id of the node at the other end */
  readonly remotePeer?: string
  // no cap on what one chunk may hold: a busy node sends many frames at once
  private readonly decoder = new LengthPrefixedDecoder({ maxDataLength: MAX_FRAME_BYTES, maxBufferSize: Number.MAX_SAFE_INTEGER })
  private readonly listeners = new Set<(received: WireFrame) => void>()
  private seen = 0
  private lastSentAt = Date.now()
  /** the handshake is done (a welcome came): from then on, a child end pings as a node does */
  private welcomed = false
  private readonly keepAlive: ReturnType<typeof setInterval>

  constructor (stream: Stream, peerId: string, remotePeer?: string, end: 'child' | 'parent' = 'child') {
    this.stream = stream
    this.peerId = peerId
    this.remotePeer = remotePeer
    stream.addEventListener('message', event => {
      for (const payload of this.decoder.decode(event.data)) {
        // the JSON ends at the first NUL byte; raw attachment bytes may follow it
        const bytes = payload.subarray()
        const end = bytes.indexOf(0)
        const received = JSON.parse(decoder.decode(end < 0 ? bytes : bytes.subarray(0, end))) as WireFrame
        this.frames.push(received)
        if (received.kind === 'welcome') this.welcomed = true
        if (received.kind === 'ping' && this.alive) this.answer({ kind: 'pong', re: received.id, body: received.body })
        for (const listener of this.listeners) listener(received)
      }
    })
    stream.addEventListener('remoteCloseWrite', () => { this.remoteClosedWrite = true })
    stream.addEventListener('close', event => {
      this.closeEvent = event
      clearInterval(this.keepAlive)
    })
    this.keepAlive = setInterval(() => {
      if (end === 'child' && this.welcomed && this.alive && this.pings && Date.now() - this.lastSentAt >= KEEP_ALIVE_MS) this.answer({ kind: 'ping', body: { t: performance.now() } })
    }, KEEP_ALIVE_MS / 3)
    this.keepAlive.unref()
  }

  /** The other side closed its side of the stream or reset it. */
  get ended (): boolean {
    return this.remoteClosedWrite || this.closeEvent !== undefined
  }

  /** Can this end still write? */
  get writable (): boolean {
    return this.closeEvent === undefined && this.stream.writeStatus === 'writable'
  }

  raw (bytes: Uint8Array): void {
    this.lastSentAt = Date.now()
    this.stream.send(bytes)
  }

  /** Writes bytes if the stream still takes them; false once it is closed (a write never throws). */
  trySend (bytes: Uint8Array): boolean {
    if (!this.writable) return false
    try {
      this.lastSentAt = Date.now()
      this.stream.send(bytes)
      return true
    } catch {
      return false
    }
  }

  /** Waits, up to `timeoutMs`, until the muxer has taken what was queued; false if the stream ended or stalled. */
  async drained (timeoutMs = 5_000): Promise<boolean> {
    if (!this.stream.writableNeedsDrain) return this.writable
    try {
      await this.stream.onDrain({ signal: AbortSignal.timeout(timeoutMs) })
      return this.writable
    } catch {
      return false
    }
  }

  /** What this end sends of its own accord, as a live peer: nothing once its stream no longer takes it. */
  private answer (fields: Record<string, unknown>): void {
    if (!this.writable) return
    try {
      this.envelope(fields)
    } catch {
      // the stream closed between the check and the write: a closed link answers nothing
    }
  }

  /** Sends a well-formed envelope with `fields` laid over it; returns its id. */
  envelope (fields: Record<string, unknown>): string {
    return this.envelopes([fields])[0] ?? ''
  }

  /** Sends such envelopes in one write, so that they arrive together; returns their ids. */
  envelopes (fieldsList: Array<Record<string, unknown>>): string[] {
    const ids = fieldsList.map(fields => typeof fields.id === 'string' ? fields.id : randomUUID())
    const frames = fieldsList.map((fields, i) => frame(JSON.stringify({ v: 1, id: ids[i], kind: 'ask', from: this.peerId, ttl: 16, route: [], body: {}, ...fields })))
    this.raw(Buffer.concat(frames))
    return ids
  }

  /** Calls `listener` for every later frame; returns the unsubscribe function. */
  onFrame (listener: (received: WireFrame) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** The next frame of `kind` not yet taken by an earlier call. */
  async next (kind: string, timeoutMs = 5_000): Promise<WireFrame> {
    return waitFor(`a ${kind} frame from the other side (got ${this.frames.map(f => f.kind).join(', ') || 'nothing'})`, () => {
      const index = this.frames.findIndex((f, i) => i >= this.seen && f.kind === kind)
      if (index < 0) return undefined
      this.seen = index + 1
      return this.frames[index]
    }, { timeoutMs })
  }

  async nextError (timeoutMs = 5_000): Promise<ErrorFrame> {
    return await this.next('error', timeoutMs) as ErrorFrame
  }

  /** The frame (of any kind) whose `re` names the envelope `id`, whenever it came. */
  async replyTo (id: string, timeoutMs = 5_000): Promise<WireFrame> {
    return waitFor(`a reply to ${id} (got ${this.frames.length} frames: ${this.frames.slice(-10).map(f => f.kind).join(', ') || 'nothing'})`,
      () => this.frames.find(f => f.re === id), { timeoutMs })
  }

  /** Says hello as a child named `name` and checks the welcome that answers it. */
  async hello (name: string): Promise<WireFrame> {
    const id = this.envelope({ kind: 'hello', body: { name, version: 'test', capabilities: ['ask', 'bus'] } })
    const welcome = await this.next('welcome')
    expect(welcome.re).toBe(id)
    return welcome
  }

  /** Answers `to` as a node would: an envelope of `kind` whose `re` names it; returns its id. */
  respond (to: WireFrame, kind: string, body: unknown): string {
    return this.envelope({ kind, re: to.id, body })
  }

  async waitEnded (what: string, timeoutMs = 5_000): Promise<void> {
    await waitFor(`the other side to close the stream after ${what}`, () => this.ended, { timeoutMs })
  }
}

/**
 * Raw peers a test makes, each a fresh libp2p node with its own key (so the node under test sees a new peer
 * each time), stopped together at the end.
 */
export class RawPeers {
  private readonly nodes = new Set<Libp2p>()

  async client (muxer: Muxer | Muxer[] = 'yamux', options: { listen?: string[], privateKey?: PrivateKey } = {}): Promise<Libp2p> {
    const node = await rawClient(muxer, options)
    this.nodes.add(node)
    return node
  }

  /** A fresh peer (own key, own connection) with one raw link stream to the node at `addr`. */
  async link (addr: string, muxer: Muxer = 'yamux', timeoutMs = 5_000): Promise<RawLink> {
    const client = await this.client(muxer)
    return openLink(client, addr, timeoutMs)
  }

  /**
   * A raw node listening on loopback that plays a parent: every link stream a real node opens to it is handed
   * to `onLink`. Children dial the returned address (with the peer id).
   */
  async parent (onLink: (link: RawLink) => void, muxers: Muxer[] = ['yamux', 'mplex']): Promise<{ node: Libp2p, addr: string }> {
    const node = await this.client(muxers, { listen: ['/ip4/127.0.0.1/tcp/0'] })
    const self = node.peerId.toString()
    await node.handle(LINK_PROTOCOL, (stream, connection) => {
      onLink(new RawLink(stream, self, connection.remotePeer.toString(), 'parent'))
    })
    const addr = node.getMultiaddrs()[0]?.toString()
    if (addr === undefined) throw new Error('the raw parent has no address')
    return { node, addr }
  }

  /** The raw node behind a link, to open another stream as the same peer. */
  nodeOf (link: RawLink): Libp2p {
    const node = [...this.nodes].find(candidate => candidate.peerId.toString() === link.peerId)
    if (node === undefined) throw new Error(`no raw node of this test is ${link.peerId}`)
    return node
  }

  /** Stops one peer: its connections close without a goodbye. */
  async stop (node: Libp2p): Promise<void> {
    this.nodes.delete(node)
    await Promise.resolve(node.stop()).catch(() => {})
  }

  async stopAll (): Promise<void> {
    const nodes = [...this.nodes]
    this.nodes.clear()
    await Promise.all(nodes.map(async node => Promise.resolve(node.stop()).catch(() => {})))
  }
}

/** Opens one more raw link stream from `client` to the node at `addr` (reusing the connection if there is one). */
export async function openLink (client: Libp2p, addr: string, timeoutMs = 5_000): Promise<RawLink> {
  const target = multiaddr(addr)
  const stream = await client.dialProtocol(target, LINK_PROTOCOL, { signal: AbortSignal.timeout(timeoutMs) })
  return new RawLink(stream, client.peerId.toString(), target.getComponents().find(c => c.name === 'p2p')?.value)
}
