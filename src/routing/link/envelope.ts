import { parseUntrusted } from './untrusted.ts'
import * as varint from 'uint8-varint'
import * as z from 'zod'
import { ENVELOPE_VERSION, MAX_TTL } from './constants.ts'
import { Uint8ArrayList } from 'uint8arraylist'

const peerIdText = z.string().min(1).max(128)

export const EnvelopeSchema = z.object({
  v: z.literal(ENVELOPE_VERSION),
  id: z.string().min(1).max(128),
  kind: z.string().min(1).max(64),
  from: peerIdText,
  to: peerIdText.optional(),
  /** the id of the envelope this one answers */
  re: z.string().min(1).max(128).optional(),
  ttl: z.number().int().min(0).max(MAX_TTL),
  route: z.array(peerIdText).max(MAX_TTL),
  body: z.unknown()
})

/**
 * One envelope: the JSON fields, and optionally raw bytes travelling with it (a picture with a question).
 * On the wire the attachment follows the JSON after one NUL byte, which JSON text never contains. Received
 * attachments are the chunks they arrived in, never copied into one buffer.
 */
export type Envelope = z.infer<typeof EnvelopeSchema> & { attachment?: Uint8Array | Uint8ArrayList }

/** Why a frame could not be taken; these codes travel in `error` frames. */
export type FrameErrorCode = 'malformed' | 'invalid' | 'unsupported-version' | 'oversize'

export class FrameError extends Error {
  readonly code: FrameErrorCode
  /** the id of the offending envelope, when it could be read */
  readonly envelopeId?: string

  constructor (code: FrameErrorCode, message: string, envelopeId?: string) {
    super(message)
    this.name = 'FrameError'
    this.code = code
    this.envelopeId = envelopeId
  }
}

const textDecoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Serialises an envelope into one length-prefixed frame: the prefix and the JSON in one buffer, the
 * attachment (if any) after it as it is, not copied.
 */
export function encodeFrame (envelope: Envelope, maxFrameBytes: number): Uint8Array | Uint8ArrayList {
  const { attachment, ...fields } = envelope
  const json = JSON.stringify(fields)
  const jsonLength = Buffer.byteLength(json, 'utf8')
  const length = attachment === undefined ? jsonLength : jsonLength + 1 + attachment.byteLength
  if (length > maxFrameBytes) {
    throw new FrameError('oversize', `a ${envelope.kind} frame of ${length} bytes is over the ${maxFrameBytes}-byte cap`)
  }
  const prefixLength = varint.encodingLength(length)
  const headLength = prefixLength + jsonLength + (attachment === undefined ? 0 : 1)
  const head = Buffer.allocUnsafe(headLength)
  varint.encode(length, head, 0)
  head.write(json, prefixLength, 'utf8')
  if (attachment === undefined) return head
  head[headLength - 1] = 0
  return new Uint8ArrayList(head, attachment)
}

/** Where the JSON of a payload ends: its first NUL byte, or its end. */
function jsonEnd (payload: Uint8ArrayList): number {
  let offset = 0
  for (const buf of payload) {
    const at = buf.indexOf(0)
    if (at >= 0) return offset + at
    offset += buf.byteLength
  }
  return offset
}

/** Parses and validates one frame's payload; throws a FrameError that says what is wrong. */
export function decodeEnvelope (payload: Uint8Array | Uint8ArrayList): Envelope {
  const list = payload instanceof Uint8ArrayList ? payload : new Uint8ArrayList(payload)
  const end = jsonEnd(list)
  let value: unknown
  try {
    value = JSON.parse(textDecoder.decode(list.subarray(0, end)))
  } catch {
    throw new FrameError('malformed', 'frame is not UTF-8 JSON')
  }
  const id = typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string'
    ? (value as { id: string }).id.slice(0, 128)
    : undefined
  const version = typeof value === 'object' && value !== null ? (value as { v?: unknown }).v : undefined
  if (typeof version === 'number' && version !== ENVELOPE_VERSION) {
    throw new FrameError('unsupported-version', `envelope version ${version} is not supported; this node speaks version ${ENVELOPE_VERSION}`, id)
  }
  const parsed = parseUntrusted(EnvelopeSchema, value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue?.path.join('.') ?? ''
    throw new FrameError('invalid', `envelope field '${where === '' ? '(root)' : where}': ${issue?.message ?? 'invalid'}`, id)
  }
  return end === list.byteLength ? parsed.data : { ...parsed.data, attachment: list.sublist(end + 1) }
}

/**
 * Splits a byte stream into frame payloads; throws a FrameError on a length over the cap, on a prefix longer
 * than the cap's own encoding (garbage such as 0xff 0xff …, which would otherwise be buffered for ever), and
 * on an empty frame, which carries no envelope. What stays buffered after a chunk is at most one unfinished
 * frame: a busy reader may get many frames in one chunk (up to the muxer's window), all already in memory.
 */
export class FrameDecoder {
  private readonly buffer = new Uint8ArrayList()
  private readonly maxFrameBytes: number
  private readonly maxPrefixBytes: number

  constructor (maxFrameBytes: number) {
    this.maxFrameBytes = maxFrameBytes
    this.maxPrefixBytes = varint.encodingLength(maxFrameBytes)
  }

  /** bytes of a frame begun and not yet finished */
  get unfinishedBytes (): number {
    return this.buffer.byteLength
  }

  * push (chunk: Uint8Array | Uint8ArrayList): Generator<Uint8ArrayList> {
    this.buffer.append(chunk)
    for (let prefix = this.readPrefix(); prefix !== undefined; prefix = this.readPrefix()) {
      const end = prefix.bytes + prefix.length
      if (this.buffer.byteLength < end) return
      const payload = this.buffer.sublist(prefix.bytes, end)
      this.buffer.consume(end)
      yield payload
    }
  }

  /** The length prefix at the head of the buffer; undefined while more bytes are needed to read it. */
  private readPrefix (): { length: number, bytes: number } | undefined {
    const available = Math.min(this.buffer.byteLength, this.maxPrefixBytes)
    let length = 0
    for (let i = 0; i < available; i++) {
      const byte = this.buffer.get(i)
      length += (byte & 0x7f) * 2 ** (7 * i)
      if ((byte & 0x80) !== 0) continue
      if (length === 0) throw new FrameError('malformed', 'empty frame')
      if (length > this.maxFrameBytes) throw new FrameError('oversize', `frame length is over the ${this.maxFrameBytes}-byte cap`)
      return { length, bytes: i + 1 }
    }
    if (available < this.maxPrefixBytes) return undefined
    throw new FrameError('oversize', `frame length prefix is longer than any length under the ${this.maxFrameBytes}-byte cap`)
  }
}
