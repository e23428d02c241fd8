import { parseUntrusted } from './untrusted.ts'
import { randomUUID } from 'node:crypto'
import { CLOSE_TIMEOUT_MS, DEFAULT_TTL, DRAIN_TIMEOUT_MS, ERROR_REPLIES_PER_SECOND, ERROR_REPLY_BURST, QUIET_BEATS, QUIET_LINKS, REQUEST_TIMEOUT_MS } from './constants.ts'
import { decodeEnvelope, encodeFrame, FrameDecoder, FrameError, type Envelope } from './envelope.ts'
import { ByeSchema, ErrorBodySchema, LinkKind, PingSchema, type LinkErrorCode, type Verdict } from './messages.ts'
import { LinkClosedError, RemoteError, RequestTimeoutError } from './errors.ts'
import { Outbox } from './outbox.ts'
import type { LinkEnd } from './heartbeat.ts'
import type { Wire } from './send-queues.ts'
import { TokenBucket, type LogLimiter, type Logger } from '../../common/index.ts'
import type { Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface SendOptions {
  re?: string
  to?: string
  ttl?: number
  route?: string[]
  /** reuse an id, as a forwarded envelope does */
  id?: string
  /** raw bytes to carry with the envelope */
  attachment?: Uint8Array | Uint8ArrayList
}

export interface RequestOptions extends SendOptions {
  timeoutMs?: number
  signal?: AbortSignal
}

export interface LinkSessionInit {
  stream: Stream
  localPeer: string
  remotePeer: string
  maxFrameBytes: number
  heartbeatMs: number
  missedBeats: number
  log: Logger
  /** where repeated warnings (a flood of bad frames) are summed up */
  repeats: LogLimiter
  /** envelopes of kinds the session does not handle itself, and replies nobody waits for */
  onEnvelope: (envelope: Envelope, session: LinkSession) => void | Promise<void>
}

interface Pending {
  kind: string
  resolve: (envelope: Envelope) => void
  reject: (err: Error) => void
}

/**
 * One end of a `/mycroft-mesh/link` stream: framing, validation, heartbeat, request/response correlation
 * and a clean goodbye. Who may link and what a frame means is decided by its owner.
 */
export class LinkSession {
  readonly localPeer: string
  readonly remotePeer: string
  readonly openedAt = Date.now()
  /** round trip of the last heartbeat, in milliseconds */
  rttMs?: number
  /** set once the session has ended */
  closeReason?: string
  /** judges every envelope once the handshake is done: a refused one is answered with an error and dropped */
  guard?: (envelope: Envelope) => Verdict
  /**
   * judges a frame that breaks the protocol (unreadable, oversize, of a kind nobody serves) once the handshake is
   * done; before it, the first such frame ends the link
   */
  breach?: (code: LinkErrorCode, reason: string) => Verdict
  /** the capability words the other side announced in its hello or welcome */
  remoteCapabilities: readonly string[] = []
  readonly closed: Promise<string>

  private readonly stream: Stream
  private readonly decoder: FrameDecoder
  private readonly init: LinkSessionInit
  private readonly log: Logger
  private readonly pending = new Map<string, Pending>()
  private lastHeardAt = Date.now()
  /** when this end first sent something after it last heard the other: undefined while nothing waits */
  private unansweredSince?: number
  /** when the bytes of a frame not yet finished began to arrive */
  private unfinishedSince?: number
  private lastPingAt = 0
  private lastSentAt = 0
  private readonly outbox: Outbox
  /** error frames answer a flood of bad frames only this often: garbage is not answered one for one */
  private readonly errorReplies = new TokenBucket(ERROR_REPLIES_PER_SECOND, ERROR_REPLY_BURST)
  private resolveClosed!: (reason: string) => void

  constructor (init: LinkSessionInit) {
    this.init = init
    this.stream = init.stream
    this.localPeer = init.localPeer
    this.remotePeer = init.remotePeer
    this.log = init.log
    this.decoder = new FrameDecoder(init.maxFrameBytes)
    this.closed = new Promise(resolve => { this.resolveClosed = resolve })
    this.outbox = new Outbox({
      stream: init.stream,
      closedReason: () => this.closeReason ?? 'stream closed',
      onStalled: () => { this.abort(`the other side read nothing for ${DRAIN_TIMEOUT_MS / 1000} s`) }
    })

    this.stream.addEventListener('message', event => { this.receive(event.data) })
    this.stream.addEventListener('remoteCloseWrite', () => { void this.close('the other side closed the link', { bye: false }) })
    this.stream.addEventListener('close', event => {
      this.finish(event.error != null ? `stream ended: ${event.error.message}` : 'stream closed')
    })
  }

  get isOpen (): boolean {
    return this.closeReason === undefined
  }

  /** Did the other side announce this capability? A node sends nothing a peer did not say it serves. */
  supports (capability: string): boolean {
    return this.remoteCapabilities.includes(capability)
  }

  /** Sends at most this many frames a second (the limit the other side stated); undefined: no pace. */
  pace (framesPerSecond: number | undefined): void {
    this.outbox.pace(framesPerSecond)
  }

  /**
   * One heartbeat tick (Heartbeats runs them for every link of the node). A link that sent something and has
   * heard nothing back since, or whose TCP connection holds bytes its peer has not acknowledged (`wire`: bytes of
   * any stream, seen in the kernel's socket table), pings after an interval, and is closed after `missedBeats`
   * intervals without a whole frame in answer; so is one whose peer began a frame and has not finished it (bytes
   * trickled now and then are no sign of life). An idle link sends nothing: TCP's keep-alive, answered by the kernels, finds a vanished
   * peer; only the child end pings once in QUIET_BEATS intervals, for a peer whose process hangs, and either end
   * closes a link silent for twice that (the two ends' heartbeats may differ). Each end pings once on a new link, to
   * know its round trip. A tick that came late judges nothing.
   */
  beat (end: LinkEnd, now: number, late: boolean, wire?: Wire): void {
    if (!this.isOpen) return
    // bytes seen waiting after the last frame heard: as if this end had sent a frame then
    if (wire?.seenWaitingAt !== undefined && wire.seenWaitingAt > this.lastHeardAt) {
      this.unansweredSince ??= Math.max(wire.waitingSince ?? now, this.lastHeardAt)
    }
    const { heartbeatMs } = this.init
    const unansweredMs = this.unansweredSince === undefined ? 0 : now - this.unansweredSince
    const silentMs = now - this.lastHeardAt
    const dead = late ? undefined : this.deathReason(now, unansweredMs, silentMs)
    if (dead !== undefined) {
      this.abort(dead)
      return
    }
    const waiting = unansweredMs >= heartbeatMs && now - this.lastPingAt >= heartbeatMs
    // a parent of an older version drops a link silent for two intervals: its child pings whenever it sent nothing for one
    const quiet = end === 'child' && this.unansweredSince === undefined &&
      (this.supports(QUIET_LINKS) ? silentMs >= heartbeatMs * QUIET_BEATS : now - this.lastSentAt >= heartbeatMs)
    // each end pings once when the link is new, for the round trip its status shows
    const first = this.lastPingAt === 0
    if (waiting || quiet || first) {
      this.lastPingAt = now
      this.send(LinkKind.ping, { t: performance.now(), ...(this.rttMs === undefined ? {} : { rtt: this.rttMs }) }, {}, { waitForDrain: false }).catch(() => {})
    }
  }

  /** Why the link is dead at `now`, if it is: no answer, a frame left unfinished, or silence, each for too long. */
  private deathReason (now: number, unansweredMs: number, silentMs: number): string | undefined {
    const { heartbeatMs, missedBeats } = this.init
    const answerMs = heartbeatMs * missedBeats
    if (unansweredMs > answerMs) return `no answer for ${seconds(unansweredMs)}`
    const unfinishedMs = this.unfinishedSince === undefined ? 0 : now - this.unfinishedSince
    if (unfinishedMs > answerMs) return `a frame begun ${seconds(unfinishedMs)} ago is still unfinished`
    if (silentMs > SILENCE_LIMIT_QUIET_PINGS * heartbeatMs * QUIET_BEATS) return `no heartbeat for ${seconds(silentMs)}`
    return undefined
  }

  /**
   * Sends one envelope; resolves once the muxer has taken it (waiting for the other side to read if need be).
   * What a tick sends goes to the muxer together, at the end of the tick.
   */
  async send (kind: string, body: unknown, options: SendOptions = {}, { waitForDrain = true } = {}): Promise<Envelope> {
    if (!this.isOpen) throw new LinkClosedError(this.closeReason ?? 'closed')
    const envelope: Envelope = {
      v: 1,
      id: options.id ?? randomUUID(),
      kind,
      from: this.localPeer,
      ttl: options.ttl ?? DEFAULT_TTL,
      route: options.route ?? [],
      body
    }
    if (options.to !== undefined) envelope.to = options.to
    if (options.re !== undefined) envelope.re = options.re
    if (options.attachment !== undefined) envelope.attachment = options.attachment
    const taken = this.outbox.enqueue(encodeFrame(envelope, this.init.maxFrameBytes))
    // a reply (a pong too) asks for nothing back; after anything else the other side should be heard from
    this.lastSentAt = Date.now()
    if (options.re === undefined) this.unansweredSince ??= this.lastSentAt
    if (waitForDrain) await taken
    return envelope
  }

  async reply (to: Envelope, kind: string, body: unknown): Promise<Envelope> {
    return this.send(kind, body, { re: to.id })
  }

  /** Sends an `error` frame, unless this link has sent too many of late (`always` for the last one before a close). */
  async sendError (code: LinkErrorCode, message: string, re?: string, { retryAfterMs, always = false }: { retryAfterMs?: number, always?: boolean } = {}): Promise<void> {
    if (!always && !this.errorReplies.take()) return
    const body = retryAfterMs === undefined ? { code, message } : { code, message, retryAfterMs }
    await this.send(LinkKind.error, body, { re }).catch(() => {})
  }

  /** Sends a request and resolves with the envelope whose `re` names it; an `error` reply rejects with RemoteError. */
  async request (kind: string, body: unknown, options: RequestOptions = {}): Promise<Envelope> {
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS
    const id = options.id ?? randomUUID()
    const answered = new Promise<Envelope>((resolve, reject) => {
      this.pending.set(id, { kind, resolve, reject })
    })
    const timer = setTimeout(() => {
      this.pending.get(id)?.reject(new RequestTimeoutError(kind, timeoutMs))
    }, timeoutMs)
    const onAbort = (): void => { this.pending.get(id)?.reject(new Error(`${kind} request aborted`)) }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await this.send(kind, body, { ...options, id })
      return await answered
    } finally {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      this.pending.delete(id)
    }
  }

  /** Says goodbye with a reason, then closes the stream. */
  async close (reason: string, { bye = true } = {}): Promise<void> {
    if (!this.isOpen) return
    if (bye) await this.send(LinkKind.bye, { reason }, {}, { waitForDrain: false }).catch(() => {})
    this.finish(reason)
    this.outbox.flush()
    try {
      await this.stream.close({ signal: AbortSignal.timeout(CLOSE_TIMEOUT_MS) })
    } catch {
      this.stream.abort(new Error(reason))
    }
  }

  /** Ends the link at once, without a goodbye. */
  abort (reason: string): void {
    if (!this.isOpen) return
    this.finish(reason)
    this.stream.abort(new Error(reason))
  }

  private finish (reason: string): void {
    if (this.closeReason !== undefined) return
    this.closeReason = reason
    for (const pending of this.pending.values()) pending.reject(new LinkClosedError(reason))
    this.pending.clear()
    this.resolveClosed(reason)
  }

  private receive (chunk: Uint8Array | Uint8ArrayList): void {
    if (!this.isOpen) return
    try {
      for (const payload of this.decoder.push(chunk)) {
        this.take(payload)
        if (!this.isOpen) return
      }
      if (this.decoder.unfinishedBytes === 0) this.unfinishedSince = undefined
      else this.unfinishedSince ??= Date.now()
    } catch (err) {
      // the byte stream can no longer be split into frames: nothing after this point can be trusted
      const code = err instanceof FrameError ? err.code : 'malformed'
      const reason = err instanceof FrameError ? err.message : String(err)
      this.init.repeats.note(`unreadable:${this.remotePeer}`, 'warn', { peer: this.remotePeer, reason }, 'closing link: unreadable byte stream')
      const verdict = this.breach?.(code, reason)
      if (verdict?.ok === false && verdict.cutOff === true) this.endWith(verdict.code, verdict.message)
      else this.endWith(code, reason)
    }
  }

  /** Tells the other side why, then ends the link at once: nothing it sent after this is taken. */
  endWith (code: LinkErrorCode, reason: string, re?: string): void {
    if (!this.isOpen) return
    // queued while the session is still open, and handed to the muxer (with all queued before it) before the close
    void this.sendError(code, reason, re, { always: true })
    this.finish(reason)
    this.outbox.flush()
    this.stream.close({ signal: AbortSignal.timeout(CLOSE_TIMEOUT_MS) }).catch(() => { this.stream.abort(new Error(reason)) })
  }

  /**
   * Answers a frame that was not taken: with an error (a busy one says when to try again), or by ending the
   * link when the verdict cuts the peer off — or when there is no verdict yet, before the handshake is done.
   */
  refuse (verdict: Verdict | undefined, code: LinkErrorCode, reason: string, re?: string): void {
    if (verdict === undefined) {
      this.init.repeats.note(`bad-frame-before-hello:${this.remotePeer}`, 'warn', { peer: this.remotePeer, code, reason }, 'closing link: a bad frame before the handshake was done')
      this.endWith(code, reason, re)
    } else if (!verdict.ok && verdict.cutOff === true) {
      this.endWith(verdict.code, verdict.message, re)
    } else if (!verdict.ok) {
      void this.sendError(verdict.code, verdict.message, re, { retryAfterMs: verdict.retryAfterMs })
    }
  }

  /**
   * A frame broke the protocol (an unreadable body, a kind the peer may not send): counted as a violation by the
   * owner's breach judge, and answered with an error while error replies last.
   */
  violation (code: LinkErrorCode, reason: string, re?: string): void {
    this.refuse(this.breach?.(code, reason) ?? { ok: false, code, message: reason }, code, reason, re)
  }

  private take (payload: Uint8ArrayList): void {
    let envelope: Envelope
    try {
      envelope = decodeEnvelope(payload)
    } catch (err) {
      if (!(err instanceof FrameError)) throw err
      this.refuse(this.breach?.(err.code, err.message), err.code, err.message, err.envelopeId)
      return
    }
    this.lastHeardAt = Date.now()
    this.unansweredSince = undefined
    this.unfinishedSince = undefined

    const verdict = this.guard?.(envelope)
    if (verdict !== undefined && !verdict.ok) {
      if (envelope.kind === LinkKind.error && verdict.cutOff !== true) return
      this.refuse(verdict, verdict.code, verdict.message, envelope.id)
      return
    }

    switch (envelope.kind) {
      case LinkKind.ping: {
        const ping = parseUntrusted(PingSchema, envelope.body)
        // the child end measures the round trip, and tells it with its pings
        if (ping.data?.rtt !== undefined) this.rttMs = ping.data.rtt
        void this.send(LinkKind.pong, ping.success ? ping.data : {}, { re: envelope.id }, { waitForDrain: false }).catch(() => {})
        return
      }
      case LinkKind.pong: {
        const pong = parseUntrusted(PingSchema, envelope.body)
        if (pong.success) this.rttMs = Math.round((performance.now() - pong.data.t) * 100) / 100
        // a ping sent with request() waits for this pong too
        if (envelope.re !== undefined) this.pending.get(envelope.re)?.resolve(envelope)
        return
      }
      case LinkKind.bye: {
        const bye = parseUntrusted(ByeSchema, envelope.body)
        void this.close(`the other side said goodbye: ${bye.success ? bye.data.reason : 'no reason given'}`, { bye: false })
        return
      }
    }

    if (envelope.re !== undefined) {
      const pending = this.pending.get(envelope.re)
      if (pending !== undefined) {
        if (envelope.kind === LinkKind.error) {
          const body = parseUntrusted(ErrorBodySchema, envelope.body)
          pending.reject(body.success ? new RemoteError(body.data.code, body.data.message, body.data.retryAfterMs) : new RemoteError('internal', 'unreadable error'))
        } else {
          pending.resolve(envelope)
        }
        return
      }
    }

    // handled at once, in the order the frames came: what a handler answers at once goes out before anything a
    // later frame of the same chunk brings about (a cut-off, say)
    const failed = (err: unknown): void => {
      this.log.error({ peer: this.remotePeer, kind: envelope.kind, err }, 'handling an envelope failed')
      void this.sendError('internal', 'the node failed to handle this envelope', envelope.id)
    }
    try {
      this.init.onEnvelope(envelope, this)?.catch(failed)
    } catch (err) {
      failed(err)
    }
  }
}

/** A link silent for this many of the child's quiet pings is dead. */
const SILENCE_LIMIT_QUIET_PINGS = 2

function seconds (ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}
