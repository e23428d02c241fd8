import { open } from 'node:fs/promises'
import { encode as varint } from 'uint8-varint'
import { concat, fromString, toString } from 'uint8arrays'
import type * as z from 'zod'
import { FileTransferError } from './errors.ts'
import { lpStream } from '@libp2p/utils'
import { MAX_CONTROL_FRAME_BYTES, PAUSED_ARRIVALS_BYTES, RECEIVE_HIGH_WATER_BYTES } from './constants.ts'
import type { FileErrorCode } from './messages.ts'
import type { Stream, StreamMessageEvent } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** One JSON object as a length-prefixed frame, the way `lpStream` reads it on the other side. */
export function frame (value: unknown): Uint8Array {
  const body = fromString(JSON.stringify(value))
  return concat([varint(body.byteLength), body])
}

/** A frame read by `lpStream`, checked against `schema`; anything else is the sender's `invalid` fault. */
export function parseFrame<T> (schema: z.ZodType<T>, data: Uint8ArrayList | Uint8Array): T {
  let value: unknown
  try {
    value = JSON.parse(toString(data.subarray()))
  } catch {
    throw new FileTransferError('invalid', 'a frame that is not JSON')
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw new FileTransferError('invalid', `field '${parsed.error.issues[0]?.path.join('.')}': ${parsed.error.issues[0]?.message}`)
  return parsed.data
}

/**
 * Exactly `expected` bytes off a stream, as they come, in batches of whatever arrived meanwhile (one write to disk
 * each, however small the muxer's frames). `@libp2p/utils`' byteStream would buffer whatever the sender pushes
 * until its limit and then reset the stream; this pauses the stream instead while the disk is behind (yamux then
 * withholds its window from the sender), so a fast sender and a slow disk meet halfway. More bytes than expected
 * is the sender's fault (`too-long`), fewer before the stream ends is `too-short`.
 */
export async function * incoming (stream: Stream, expected: number, idleMs: number): AsyncGenerator<Uint8Array[]> {
  let queue: Uint8Array[] = []
  let queued = 0
  let ended: { error?: Error } | undefined
  let wake: (() => void) | undefined
  const notify = (): void => { const resolve = wake; wake = undefined; resolve?.() }
  const onMessage = (event: StreamMessageEvent): void => {
    const chunk = event.data instanceof Uint8Array ? event.data : event.data.subarray()
    queue.push(chunk)
    queued += chunk.byteLength
    if (queued > RECEIVE_HIGH_WATER_BYTES && stream.readStatus === 'readable') stream.pause()
    notify()
  }
  const onClose = (event: Event): void => { ended = { error: (event as Event & { error?: Error }).error }; notify() }
  const onRemoteCloseWrite = (): void => { ended ??= {}; notify() }
  // while paused, what yamux granted before (up to its 16 MiB window) may still arrive into the stream's buffer
  stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, PAUSED_ARRIVALS_BYTES)
  stream.addEventListener('message', onMessage)
  stream.addEventListener('close', onClose)
  stream.addEventListener('remoteCloseWrite', onRemoteCloseWrite)
  try {
    let taken = 0
    while (taken < expected) {
      if (queue.length === 0) {
        if (ended !== undefined) throw ended.error ?? new FileTransferError('too-short', `the sender stopped after ${taken} of the ${expected} bytes it offered`)
        await waitForData(idleMs, resolve => { wake = resolve })
        continue
      }
      const batch = queue
      const bytes = queued
      queue = []
      queued = 0
      if (stream.readStatus === 'paused') stream.resume()
      if (taken + bytes > expected) throw new FileTransferError('too-long', `the sender sent more than the ${expected} bytes it offered`)
      taken += bytes
      yield batch
    }
    if (queue.length > 0) throw new FileTransferError('too-long', `the sender sent more than the ${expected} bytes it offered`)
  } finally {
    stream.removeEventListener('message', onMessage)
    stream.removeEventListener('close', onClose)
    stream.removeEventListener('remoteCloseWrite', onRemoteCloseWrite)
    if (stream.readStatus === 'paused') stream.resume()
  }
}

async function waitForData (idleMs: number, onWake: (resolve: () => void) => void): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    await new Promise<void>((resolve, reject) => {
      onWake(resolve)
      timer = setTimeout(() => { reject(new FileTransferError('timeout', `no bytes came for ${idleMs / 1000} s`)) }, idleMs)
    })
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The bytes of a file from `start` to `end`, `chunkBytes` at a time with one read ahead, each in a buffer of its
 * own (a stream keeps what it is given until it is written out). A file that ends before `end` changed since it
 * was offered: that is said at once, where a read stream would end early and leave the receiver waiting.
 */
export async function * fileChunks (path: string, start: number, end: number, chunkBytes: number): AsyncGenerator<Uint8Array> {
  const handle = await open(path, 'r')
  try {
    const readAt = async (position: number): Promise<Uint8Array> => {
      const buffer = Buffer.allocUnsafeSlow(Math.min(chunkBytes, end - position))
      const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, position)
      if (bytesRead === 0) throw new FileTransferError('invalid', `the file ended at ${position} bytes, before the ${end} offered: it changed while it was sent`)
      return buffer.subarray(0, bytesRead)
    }
    let position = start
    let next = position < end ? readAt(position) : undefined
    while (next !== undefined) {
      const chunk = await next
      position += chunk.byteLength
      next = position < end ? readAt(position) : undefined
      // a read that fails after its consumer stopped is nobody's to hear
      next?.catch(() => {})
      yield chunk
    }
  } finally {
    await handle.close()
  }
}

/**
 * Writes chunks to a stream, waiting whenever its buffer is full; a receiver that takes nothing for `idleMs`
 * ends it. One watchdog for the whole file, pushed back at each chunk: a timeout signal per wait lived `idleMs`
 * each, 16,000 of them for a GiB, and the sender's RSS grew by 120 MiB instead of 25 (BENCHMARKS.md, "Files").
 */
export async function sendAll (stream: Stream, source: AsyncIterable<Uint8Array>, idleMs: number, signal: AbortSignal, onSent: (bytes: number) => void): Promise<void> {
  const stalled = new AbortController()
  const watchdog = setTimeout(() => { stalled.abort(new FileTransferError('timeout', `the receiver took nothing for ${idleMs / 1000} s`)) }, idleMs)
  const waiting = AbortSignal.any([signal, stalled.signal])
  try {
    for await (const chunk of source) {
      waiting.throwIfAborted()
      if (!stream.send(chunk)) await stream.onDrain({ signal: waiting })
      watchdog.refresh()
      onSent(chunk.byteLength)
    }
  } finally {
    clearTimeout(watchdog)
  }
}

/** One frame off a stream, leaving the stream as it was for whatever comes after. */
export async function readFrame (stream: Stream, signal: AbortSignal): Promise<Uint8Array> {
  const reader = lpStream(stream, { maxDataLength: MAX_CONTROL_FRAME_BYTES })
  try {
    return (await reader.read({ signal })).subarray()
  } finally {
    reader.unwrap()
  }
}

export function within (signal: AbortSignal, ms: number): AbortSignal {
  return AbortSignal.any([signal, AbortSignal.timeout(ms)])
}

export async function refuseOn (raw: Stream, code: FileErrorCode, reason: string, retryAfterMs?: number): Promise<void> {
  await finishOn(raw, { refuse: { code, reason, retryAfterMs } })
}

export async function finishOn (raw: Stream, reply: unknown): Promise<void> {
  try {
    raw.send(frame(reply))
    await raw.close({ signal: AbortSignal.timeout(5_000) })
  } catch {
    raw.abort(new Error('could not finish the file stream'))
  }
}
