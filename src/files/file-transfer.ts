import { createHash, randomUUID } from 'node:crypto'
import { open, realpath, stat } from 'node:fs/promises'
import { basename, extname } from 'node:path'
import { serviceCapabilities } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { pipe } from 'it-pipe'
import { LogLimiter, backoffDelay, errorMessage, formatBytes, setBounded, sleep, type Logger } from '../common/index.ts'
import {
  BUSY_RETRY_MS, CHECKPOINT_BYTES, DEFAULT_FILE_LIMITS, DISK_MARGIN_BYTES, FILE_COUNTERS, FILE_PROTOCOL, FINISHED_KEPT, FINISH_TIMEOUT_MS,
  IDLE_TIMEOUT_MS, MAX_CONTROL_FRAME_BYTES, MAX_INBOUND_TRANSFERS_PER_CONNECTION, MAX_OUTBOUND_TRANSFERS_PER_CONNECTION, MAX_TRANSFERS,
  MAX_TRANSFERS_PER_PEER, OFFER_TIMEOUT_MS, PROGRESS_INTERVAL_MS, READ_CHUNK_BYTES, RESUME_BACKOFF, RESUME_WITHIN_MS, SEND_CHUNK_BYTES } from './constants.ts'
import { asTransferError, FileTransferError } from './errors.ts'
import { Inbox, type PartialFile } from './inbox.ts'
import { FinishSchema, OfferReplySchema, OfferSchema, type FileErrorCode, type Offer, type OfferReply } from './messages.ts'
import { fileChunks, finishOn, frame, incoming, parseFrame, readFrame, refuseOn, sendAll, within } from './wire.ts'
import type { FileLimits, FileTransfer, FileTransferComponents, FileTransferInit, SendOptions, Sending, TransferState } from './index.ts'
import type { Connection, Startable, Stream } from '@libp2p/interface'

interface Active {
  state: TransferState
  controller: AbortController
  /** bytes when this attempt began, and when, for the rate */
  base: { bytes: number, at: number }
  lastProgress: number
}

const MEDIA_TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.gif': 'image/gif', '.webp': 'image/webp',
  '.wav': 'audio/wav', '.mp3': 'audio/mpeg', '.ogg': 'audio/ogg', '.txt': 'text/plain', '.json': 'application/json',
  '.whl': 'application/zip', '.zip': 'application/zip', '.gz': 'application/gzip'
}

/**
 * The file protocol: a sender offers a file (name, size, sha256, media type, purpose); the receiver accepts it
 * (from where a broken transfer of it stopped) or refuses it with a reason; the bytes stream with backpressure
 * both ways, are hashed as they land in a partial file, and only a verified, flushed file is moved to its final
 * name in the inbox. One stream per file, never the link's, so a big file cannot hold up a question.
 */
export class FileTransferService implements FileTransfer, Startable {
  readonly [Symbol.toStringTag] = 'mycroft-mesh/files'
  readonly [serviceCapabilities] = ['@mycroft-mesh/files']

  private readonly components: FileTransferComponents
  private readonly init: FileTransferInit
  private readonly log: Logger
  private readonly repeats: LogLimiter
  private readonly limits: FileLimits
  private readonly inboxStore: Inbox
  private readonly counters
  private readonly active = new Map<string, Active>()
  private readonly finished = new Map<string, TransferState>()
  /** bytes of offers accepted and still arriving, by sender: counted against its quota before they land */
  private readonly arriving = new Map<string, number>()
  private readonly hashes = new Map<string, string>()
  private sweeper?: ReturnType<typeof setInterval>

  constructor (components: FileTransferComponents, init: FileTransferInit) {
    this.components = components
    this.init = init
    this.log = init.log
    this.repeats = new LogLimiter(init.log)
    this.limits = { ...DEFAULT_FILE_LIMITS, ...init.limits }
    this.inboxStore = new Inbox(init.dir)
    this.counters = init.figures.counters('files', FILE_COUNTERS)
    init.figures.reading('files', () => ({ underWay: this.active.size, inbox: this.inboxStore.entries().length }))
  }

  async start (): Promise<void> {
    const swept = await this.inboxStore.open(this.limits.partialTtlMs)
    this.noteSwept(swept)
    this.sweeper = setInterval(() => { void this.inboxStore.sweep(this.limits.partialTtlMs).then(swept => { this.noteSwept(swept) }) }, Math.min(this.limits.partialTtlMs, 3_600_000))
    this.sweeper.unref()
    await this.components.registrar.handle(FILE_PROTOCOL, (stream, connection) => { void this.receive(stream, connection) }, {
      maxInboundStreams: MAX_INBOUND_TRANSFERS_PER_CONNECTION,
      maxOutboundStreams: MAX_OUTBOUND_TRANSFERS_PER_CONNECTION
    })
  }

  async stop (): Promise<void> {
    clearInterval(this.sweeper)
    for (const transfer of this.active.values()) transfer.controller.abort(new FileTransferError('cancelled', 'the node is stopping'))
    await this.components.registrar.unhandle(FILE_PROTOCOL)
  }

  transfers (): TransferState[] {
    return [...[...this.active.values()].map(active => ({ ...active.state, rate: rate(active) })), ...[...this.finished.values()].reverse()]
  }

  inbox (): ReturnType<Inbox['entries']> {
    return this.inboxStore.entries()
  }

  originOf (path: string, peerId: string): string | undefined {
    return this.inboxStore.originOf(path, peerId)
  }

  cancel (id: string): boolean {
    const transfer = this.active.get(id)
    if (transfer === undefined) return false
    transfer.controller.abort(new FileTransferError('cancelled', 'cancelled by this node\'s owner'))
    return true
  }

  send (peerId: string, path: string, options: SendOptions = {}): Sending {
    const id = randomUUID()
    const transfer = this.track(id, 'send', peerId, basename(path), 0)
    if (options.signal !== undefined) options.signal.addEventListener('abort', () => { transfer.controller.abort(new FileTransferError('cancelled', 'the transfer was called off')) }, { once: true })
    const done = this.sendWithResume(transfer, peerId, path, options).then(
      outcome => {
        this.counters.sent++
        this.end(transfer, 'done', { path: outcome.path })
        return outcome
      },
      (err: unknown) => {
        const failure = asTransferError(err, transfer.controller.signal)
        this.end(transfer, failure.code === 'cancelled' ? 'cancelled' : 'failed', { code: failure.code, reason: failure.message })
        throw failure
      })
    done.catch(() => {})
    return { id, done }
  }

  private async sendWithResume (transfer: Active, peerId: string, path: string, options: SendOptions): Promise<{ path: string, sha256: string, size: number }> {
    const { signal } = transfer.controller
    const file = await stat(path).catch(() => undefined)
    if (file?.isFile() !== true) throw new FileTransferError('invalid', `${path} is not a file this node can read`)
    const offer: Offer = {
      v: 1,
      // the whole path: the receiver keeps only its last part as a name, and tells it back when it answers about it
      name: await realpath(path),
      size: file.size,
      sha256: await this.hashOf(path, file.size, file.mtimeMs, signal),
      mediaType: options.mediaType ?? MEDIA_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
      purpose: options.purpose ?? ''
    }
    transfer.state.size = offer.size
    const deadline = Date.now() + (options.resumeWithinMs ?? RESUME_WITHIN_MS)
    for (let attempt = 0; ; attempt++) {
      try {
        return { path: await this.attempt(transfer, peerId, path, offer), sha256: offer.sha256, size: offer.size }
      } catch (err) {
        const failure = asTransferError(err, signal)
        const wait = failure.retryAfterMs ?? backoffDelay(attempt, RESUME_BACKOFF)
        if (!failure.retryable || Date.now() + wait > deadline) throw failure
        this.log.info({ file: transfer.state.name, to: transfer.state.peer, err: failure.message }, `sending ${transfer.state.name} to ${transfer.state.peer} broke off (${failure.message}); trying again in ${Math.ceil(wait / 1000)} s`)
        await sleep(wait, signal)
        if (signal.aborted) throw asTransferError(signal.reason, signal)
      }
    }
  }

  /** One try: offer, stream from where the receiver stands, wait for its verdict on the whole file. */
  private async attempt (transfer: Active, peerId: string, path: string, offer: Offer): Promise<string> {
    const { signal } = transfer.controller
    const connection = await this.components.connectionManager.openConnection(peerIdFromString(peerId), { signal })
    const stream = await connection.newStream(FILE_PROTOCOL, { signal })
    try {
      stream.send(frame(offer))
      const reply: OfferReply = parseFrame(OfferReplySchema, await readFrame(stream, within(signal, OFFER_TIMEOUT_MS)))
      if ('have' in reply) return reply.have.path
      if ('refuse' in reply) throw new FileTransferError(reply.refuse.code, `${transfer.state.peer} refused ${transfer.state.name}: ${reply.refuse.reason}`, reply.refuse.retryAfterMs)
      const { offset } = reply.accept
      if (offset > offer.size) throw new FileTransferError('invalid', `${transfer.state.peer} asked to resume past the end of ${transfer.state.name}`)
      if (offset > 0) {
        this.counters.resumed++
        this.log.info({ file: transfer.state.name, offset }, `resuming ${transfer.state.name} to ${transfer.state.peer} at ${offset} of ${offer.size} bytes`)
      }
      this.restart(transfer, offset)
      if (offset < offer.size) {
        await pipe(
          fileChunks(path, offset, offer.size, SEND_CHUNK_BYTES),
          async source => { await sendAll(stream, source, IDLE_TIMEOUT_MS, signal, bytes => { this.moved(transfer, bytes, 'bytesSent') }) })
      }
      const finish = parseFrame(FinishSchema, await readFrame(stream, within(signal, FINISH_TIMEOUT_MS)))
      await stream.close().catch(() => {})
      if ('failed' in finish) throw new FileTransferError(finish.failed.code, `${transfer.state.peer} did not keep ${transfer.state.name}: ${finish.failed.reason}`)
      return finish.done.path
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(errorMessage(err)))
      throw err
    }
  }

  private async receive (stream: Stream, connection: Connection): Promise<void> {
    const peerId = connection.remotePeer.toString()
    const peer = this.init.nameOf?.(peerId) ?? peerId.slice(-8)
    const lp = lpStream(stream, { maxDataLength: MAX_CONTROL_FRAME_BYTES })
    let offer: Offer
    try {
      offer = parseFrame(OfferSchema, await lp.read({ signal: AbortSignal.timeout(OFFER_TIMEOUT_MS) }))
    } catch (err) {
      const failure = asTransferError(err)
      this.repeats.note(`offer:${peerId}`, 'warn', { peer, err: failure.message }, `${peer} sent no readable file offer: ${failure.message}`)
      await refuseOn(lp.unwrap(), failure.code === 'timeout' ? 'timeout' : 'invalid', failure.message)
      return
    }
    const raw = lp.unwrap()
    const refusal = this.admit(peerId, offer)
    if (refusal !== undefined) {
      await this.refuse(raw, peer, peerId, offer, refusal)
      return
    }
    const transfer = this.track(randomUUID(), 'receive', peerId, basename(offer.name), offer.size)
    this.arriving.set(peerId, (this.arriving.get(peerId) ?? 0) + offer.size)
    try {
      await this.take(raw, transfer, peerId, offer)
    } finally {
      this.arriving.set(peerId, (this.arriving.get(peerId) ?? 0) - offer.size)
      if (this.arriving.get(peerId) === 0) this.arriving.delete(peerId)
    }
  }

  /** Refusals decided on the offer alone, before any disk is looked at. */
  private admit (peerId: string, offer: Offer): { code: FileErrorCode, reason: string, retryAfterMs?: number } | undefined {
    const verdict = this.init.allowed?.(peerId) ?? { ok: true }
    if (!verdict.ok) return { code: verdict.code, reason: verdict.reason }
    if (offer.size > this.limits.maxFileBytes) return { code: 'too-large', reason: `${shown(offer)} is ${offer.size} bytes; this node takes files up to ${this.limits.maxFileBytes} bytes` }
    const mine = [...this.active.values()].filter(active => active.state.direction === 'receive' && active.state.peerId === peerId).length
    if (mine >= MAX_TRANSFERS_PER_PEER || this.active.size >= MAX_TRANSFERS) {
      return { code: 'busy', reason: `this node takes ${MAX_TRANSFERS_PER_PEER} files at once from one peer and ${MAX_TRANSFERS} in all; try again shortly`, retryAfterMs: BUSY_RETRY_MS }
    }
    return undefined
  }

  private async take (raw: Stream, transfer: Active, peerId: string, offer: Offer): Promise<void> {
    const peer = transfer.state.peer
    const have = await this.inboxStore.holds(offer)
    if (have !== undefined) {
      await finishOn(raw, { have: { path: have } })
      this.end(transfer, 'done', { path: have })
      return
    }
    const used = await this.inboxStore.usage(peerId) + (this.arriving.get(peerId) ?? 0) - offer.size
    if (used + offer.size > this.limits.perPeerBytes) {
      await this.refuse(raw, peer, peerId, offer, { code: 'quota', reason: `${peer}'s files here would pass its quota of ${this.limits.perPeerBytes} bytes (it holds ${used}); remove some from this node's inbox` }, transfer)
      return
    }
    const free = await this.inboxStore.freeBytes()
    if (free < offer.size + DISK_MARGIN_BYTES) {
      await this.refuse(raw, peer, peerId, offer, { code: 'disk-full', reason: `the receiving node's disk has ${formatBytes(free)} free and keeps ${formatBytes(DISK_MARGIN_BYTES)} of it spare: no room for ${formatBytes(offer.size)} more; free some disk there and send it again` }, transfer)
      return
    }
    let partial: PartialFile
    try {
      partial = await this.inboxStore.begin(peerId, offer)
    } catch (err) {
      await this.refuse(raw, peer, peerId, offer, { code: 'io', reason: `this node could not open a file for it: ${errorMessage(err)}` }, transfer)
      return
    }
    this.restart(transfer, partial.offset)
    const { signal } = transfer.controller
    const onAbort = (): void => { raw.abort(new Error('cancelled')) }
    signal.addEventListener('abort', onAbort, { once: true })
    const bytes = incoming(raw, offer.size - partial.offset, IDLE_TIMEOUT_MS)
    raw.send(frame({ accept: { offset: partial.offset } } satisfies OfferReply))
    let sinceCheckpoint = 0
    try {
      await pipe(bytes, async source => {
        for await (const batch of source) {
          const bytesWritten = await this.inboxStore.append(partial, batch)
          this.moved(transfer, bytesWritten, 'bytesReceived')
          sinceCheckpoint += bytesWritten
          if (sinceCheckpoint >= CHECKPOINT_BYTES) {
            sinceCheckpoint = 0
            await this.inboxStore.checkpoint(partial)
          }
        }
      })
      const sha256 = partial.hash.digest('hex')
      if (sha256 !== offer.sha256) throw new FileTransferError('hash-mismatch', `the bytes of ${shown(offer)} hash to ${sha256.slice(0, 12)}…, not the ${offer.sha256.slice(0, 12)}… offered`)
      const path = await this.inboxStore.finish(partial, peer)
      this.counters.received++
      await finishOn(raw, { done: { path } })
      this.log.info({ file: shown(offer), from: peer, bytes: offer.size, path }, `received ${shown(offer)} from ${peer} (${offer.size} bytes), verified`)
      this.end(transfer, 'done', { path })
    } catch (err) {
      const failure = asTransferError(err, signal)
      // the bytes so far are good when only the stream broke: a resume starts after them
      const keep = failure.code === 'timeout' || failure.code === 'io' || failure.code === 'too-short'
      await this.inboxStore.stop(partial, keep).catch(() => {})
      this.counters.failed++
      this.repeats.note(`failed:${peerId}:${failure.code}`, 'warn', { file: shown(offer), from: peer, code: failure.code, offset: partial.offset }, `${shown(offer)} from ${peer} did not arrive whole: ${failure.message}${keep ? ' (kept what came, to resume)' : ''}`)
      await finishOn(raw, { failed: { code: failure.code, reason: failure.message } }).catch(() => {})
      this.end(transfer, failure.code === 'cancelled' ? 'cancelled' : 'failed', { code: failure.code, reason: failure.message })
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  private async refuse (raw: Stream, peer: string, peerId: string, offer: Offer, refusal: { code: FileErrorCode, reason: string, retryAfterMs?: number }, transfer?: Active): Promise<void> {
    this.counters.refused++
    this.repeats.note(`refused:${peerId}:${refusal.code}`, 'warn', { peer, file: shown(offer), code: refusal.code }, `refused ${shown(offer)} from ${peer}: ${refusal.reason}`)
    await refuseOn(raw, refusal.code, refusal.reason, refusal.retryAfterMs)
    if (transfer !== undefined) this.end(transfer, 'failed', { code: refusal.code, reason: refusal.reason })
  }

  /** The content hash of a file, remembered while its size and modification time stay the same. */
  private async hashOf (path: string, size: number, mtimeMs: number, signal: AbortSignal): Promise<string> {
    const key = `${await realpath(path)}:${size}:${mtimeMs}`
    const known = this.hashes.get(key)
    if (known !== undefined) return known
    const hash = createHash('sha256')
    // one buffer, read into again and again: hashing a big file leaves no garbage for the collector to catch up on
    const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES)
    const handle = await open(path, 'r')
    try {
      for (let position = 0; position < size; position += READ_CHUNK_BYTES) {
        if (signal.aborted) throw asTransferError(signal.reason, signal)
        const { bytesRead } = await handle.read(buffer, 0, Math.min(READ_CHUNK_BYTES, size - position), position)
        if (bytesRead === 0) break
        hash.update(buffer.subarray(0, bytesRead))
      }
    } finally {
      await handle.close()
    }
    const sha256 = hash.digest('hex')
    setBounded(this.hashes, key, sha256, 256)
    return sha256
  }

  private track (id: string, direction: TransferState['direction'], peerId: string, name: string, size: number): Active {
    const now = Date.now()
    const active: Active = {
      state: { id, direction, peer: this.init.nameOf?.(peerId) ?? peerId.slice(-8), peerId, name, size, bytes: 0, rate: 0, state: 'under-way', startedAt: new Date(now).toISOString() },
      controller: new AbortController(),
      base: { bytes: 0, at: now },
      lastProgress: 0
    }
    this.active.set(id, active)
    return active
  }

  private restart (transfer: Active, offset: number): void {
    transfer.state.bytes = offset
    transfer.base = { bytes: offset, at: Date.now() }
  }

  private moved (transfer: Active, bytes: number, counter: 'bytesSent' | 'bytesReceived'): void {
    transfer.state.bytes += bytes
    this.counters[counter] += bytes
    const now = Date.now()
    if (now - transfer.lastProgress < PROGRESS_INTERVAL_MS) return
    transfer.lastProgress = now
    this.init.onEvent?.({ type: 'progress', transfer: { ...transfer.state, rate: rate(transfer) } })
  }

  private end (transfer: Active, state: 'done' | 'failed' | 'cancelled', fields: Partial<TransferState>): void {
    this.active.delete(transfer.state.id)
    const final: TransferState = { ...transfer.state, ...fields, rate: rate(transfer), state, finishedAt: new Date().toISOString() }
    setBounded(this.finished, final.id, final, FINISHED_KEPT)
    this.init.onEvent?.({ type: state === 'done' ? 'done' : 'failed', transfer: final })
  }

  private noteSwept (swept: number): void {
    if (swept === 0) return
    this.counters.sweptPartials += swept
    this.log.info({ swept }, `swept ${swept} partial file(s) whose sender did not come back within ${Math.round(this.limits.partialTtlMs / 60_000)} min`)
  }
}

/** An offered file as this node speaks of it: the last part of the sender's name for it, cut short. */
function shown (offer: Offer): string {
  return basename(offer.name.replace(/\\/g, '/')).slice(0, 100)
}

function rate (transfer: Active): number {
  const seconds = (Date.now() - transfer.base.at) / 1000
  return seconds <= 0 ? 0 : Math.round((transfer.state.bytes - transfer.base.bytes) / seconds)
}
