import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { decodeEnvelope, encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES, type Envelope } from '../../src/routing/index.ts'

const PEER = '12D3KooWAbcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP'

function envelope (overrides: Partial<Envelope> = {}): Envelope {
  return { v: 1, id: 'e-1', kind: 'ask', from: PEER, ttl: 16, route: [PEER], body: { utterance: 'what time is it', n: [1, 2, 3] }, ...overrides }
}

/** A length-prefixed frame around any payload, valid or not. */
function rawFrame (payload: string | Uint8Array): Uint8Array {
  const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload
  const prefix = varint.encode(bytes.byteLength)
  const frame = new Uint8Array(prefix.byteLength + bytes.byteLength)
  frame.set(prefix, 0)
  frame.set(bytes, prefix.byteLength)
  return frame
}

function payloadOf (frame: Uint8Array | Uint8ArrayList): Uint8Array {
  const bytes = frame.subarray()
  return bytes.subarray(varint.encodingLength(varint.decode(bytes)))
}

function frameError (fn: () => unknown): FrameError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(FrameError)
    return err as FrameError
  }
  throw new Error('expected a FrameError, nothing was thrown')
}

function decodeAll (decoder: FrameDecoder, chunks: Array<Uint8Array | Uint8ArrayList>): Envelope[] {
  const out: Envelope[] = []
  for (const chunk of chunks) {
    for (const payload of decoder.push(chunk)) out.push(decodeEnvelope(payload))
  }
  return out
}

describe('envelope encoding', () => {
  it('round-trips an envelope through encodeFrame and decodeEnvelope', () => {
    const original = envelope({ to: PEER, re: 'e-0', body: { text: 'héllo ✓', nested: { ok: true, none: null } } })
    const frame = encodeFrame(original, MAX_FRAME_BYTES)
    const length = varint.decode(frame)
    expect(frame.byteLength).toBe(varint.encodingLength(length) + length)
    expect(decodeEnvelope(payloadOf(frame))).toEqual(original)
  })

  it('decodes from a Uint8ArrayList split across buffers', () => {
    const payload = payloadOf(encodeFrame(envelope(), MAX_FRAME_BYTES))
    const list = new Uint8ArrayList(payload.subarray(0, 5), payload.subarray(5, 17), payload.subarray(17))
    expect(decodeEnvelope(list)).toEqual(envelope())
  })

  it('refuses to encode an envelope over the cap, naming its kind and size', () => {
    const big = envelope({ kind: 'answer', body: 'x'.repeat(2_000) })
    const err = frameError(() => encodeFrame(big, 1_000))
    expect(err.code).toBe('oversize')
    expect(err.message).toMatch(/answer frame of \d+ bytes is over the 1000-byte cap/)
    // the same envelope fits a bigger cap
    expect(() => encodeFrame(big, MAX_FRAME_BYTES)).not.toThrow()
  })
})

describe('decodeEnvelope on bad input', () => {
  it.each([
    ['plain text', 'hello there'],
    ['truncated JSON', '{"v":1,"id":"a"'],
    ['empty payload', '']
  ])('rejects %s as malformed', (_label, text) => {
    const err = frameError(() => decodeEnvelope(new TextEncoder().encode(text)))
    expect(err.code).toBe('malformed')
    expect(err.message).toMatch(/not UTF-8 JSON/)
  })

  it('rejects bytes that are not UTF-8 as malformed', () => {
    const err = frameError(() => decodeEnvelope(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])))
    expect(err.code).toBe('malformed')
  })

  it.each<[string, unknown, string]>([
    ['a number for ttl', { ...envelope(), ttl: 'lots' }, 'ttl'],
    ['a ttl over the maximum', { ...envelope(), ttl: 1_000 }, 'ttl'],
    ['a missing kind', { ...envelope(), kind: undefined }, 'kind'],
    ['an empty id', { ...envelope(), id: '' }, 'id'],
    ['a non-string hop in the route', { ...envelope(), route: [PEER, 42] }, 'route.1'],
    ['a missing from', { ...envelope(), from: undefined }, 'from']
  ])('rejects %s as invalid, naming the field', (_label, value, field) => {
    const err = frameError(() => decodeEnvelope(new TextEncoder().encode(JSON.stringify(value))))
    expect(err.code).toBe('invalid')
    expect(err.message).toContain(`envelope field '${field}'`)
  })

  it('names the root when the JSON is not an object, and carries no id', () => {
    for (const value of [[1, 2], 'text', 42, null]) {
      const err = frameError(() => decodeEnvelope(new TextEncoder().encode(JSON.stringify(value))))
      expect(err.code).toBe('invalid')
      expect(err.message).toContain("envelope field '(root)'")
      expect(err.envelopeId).toBeUndefined()
    }
  })

  it('carries the id of an invalid envelope so the error can answer it', () => {
    const err = frameError(() => decodeEnvelope(new TextEncoder().encode(JSON.stringify({ ...envelope({ id: 'q-7' }), ttl: -1 }))))
    expect(err.code).toBe('invalid')
    expect(err.envelopeId).toBe('q-7')
  })

  it.each([2, 0, 99])('rejects version %i as unsupported-version, carrying the id', version => {
    const err = frameError(() => decodeEnvelope(new TextEncoder().encode(JSON.stringify({ ...envelope({ id: 'v-id' }), v: version }))))
    expect(err.code).toBe('unsupported-version')
    expect(err.envelopeId).toBe('v-id')
    expect(err.message).toContain(`version ${version} is not supported`)
  })

  it('reports the version even when the rest of a future envelope does not fit this schema', () => {
    const future = { v: 2, id: 'f-1', kind: 'ask', sender: { peer: PEER }, hops: 3 }
    const err = frameError(() => decodeEnvelope(new TextEncoder().encode(JSON.stringify(future))))
    expect(err.code).toBe('unsupported-version')
    expect(err.envelopeId).toBe('f-1')
  })
})

describe('FrameDecoder', () => {
  const frames = [envelope({ id: 'a' }), envelope({ id: 'b', body: 'y'.repeat(300) }), envelope({ id: 'c', kind: 'ping', body: { t: 1 } })]
  const stream = new Uint8Array(frames.flatMap(e => [...encodeFrame(e, MAX_FRAME_BYTES).subarray()]))

  it('yields several frames that arrive in one chunk', () => {
    expect(decodeAll(new FrameDecoder(MAX_FRAME_BYTES), [stream])).toEqual(frames)
  })

  it('reassembles frames split one byte at a time', () => {
    const chunks = [...stream].map(byte => new Uint8Array([byte]))
    expect(decodeAll(new FrameDecoder(MAX_FRAME_BYTES), chunks)).toEqual(frames)
  })

  it('reassembles frames across arbitrary chunk boundaries, including inside the length prefix', () => {
    // frame b is over 127 bytes, so its prefix is two bytes long and some cuts fall between them
    let seed = 7
    const random = (): number => { seed = (seed * 48271) % 2147483647; return seed / 2147483647 }
    for (let round = 0; round < 200; round++) {
      const chunks: Array<Uint8Array | Uint8ArrayList> = []
      let at = 0
      while (at < stream.byteLength) {
        const size = 1 + Math.floor(random() * 60)
        const piece = stream.subarray(at, at + size)
        chunks.push(round % 2 === 0 ? piece : new Uint8ArrayList(piece))
        at += size
      }
      expect(decodeAll(new FrameDecoder(MAX_FRAME_BYTES), chunks)).toEqual(frames)
    }
  })

  it('yields nothing for half a frame, and the frame once the rest arrives', () => {
    const decoder = new FrameDecoder(MAX_FRAME_BYTES)
    const one = encodeFrame(envelope(), MAX_FRAME_BYTES)
    expect(decodeAll(decoder, [one.subarray(0, 10)])).toEqual([])
    expect(decodeAll(decoder, [one.subarray(10)])).toEqual([envelope()])
  })

  it('throws oversize as soon as a length prefix names more than the cap, before the payload arrives', () => {
    const decoder = new FrameDecoder(1_024)
    const err = frameError(() => [...decoder.push(varint.encode(1_025))])
    expect(err.code).toBe('oversize')
    expect(err.message).toContain('1024-byte cap')
  })

  it('takes a frame of exactly the cap', () => {
    const payload = JSON.stringify(envelope({ body: '' }))
    const padded = JSON.stringify(envelope({ body: 'z'.repeat(1_024 - payload.length) }))
    expect(padded.length).toBe(1_024)
    expect(decodeAll(new FrameDecoder(1_024), [rawFrame(padded)])).toHaveLength(1)
  })

  it('throws oversize for the default cap of 256 KiB', () => {
    const err = frameError(() => [...new FrameDecoder(MAX_FRAME_BYTES).push(varint.encode(256 * 1024 + 1))])
    expect(err.code).toBe('oversize')
  })

  it('rejects garbage bytes whose length prefix never ends instead of buffering them', () => {
    // every byte has the varint continuation bit set: no length can be read, however many arrive
    const decoder = new FrameDecoder(MAX_FRAME_BYTES)
    const err = frameError(() => [...decoder.push(new Uint8Array(64).fill(0xff))])
    expect(['oversize', 'malformed']).toContain(err.code)
  })

  it('rejects such a prefix even when it trickles in a byte at a time', () => {
    const decoder = new FrameDecoder(MAX_FRAME_BYTES)
    let thrown: unknown
    for (let i = 0; i < 16 && thrown === undefined; i++) {
      try {
        expect([...decoder.push(new Uint8Array([0x80]))]).toEqual([])
      } catch (err) {
        thrown = err
      }
    }
    expect(thrown).toBeInstanceOf(FrameError)
  })

  it('rejects an empty frame, which carries no envelope, instead of skipping it silently', () => {
    const decoder = new FrameDecoder(MAX_FRAME_BYTES)
    const err = frameError(() => [...decoder.push(new Uint8Array([0x00, 0x00, 0x00]))])
    expect(err.code).toBe('malformed')
    expect(err.message).toContain('empty frame')
  })

  it('still waits for a long-enough prefix split in the middle', () => {
    // 200_000 needs a three-byte varint: two continuation bytes alone are not an error
    const decoder = new FrameDecoder(MAX_FRAME_BYTES)
    const prefix = varint.encode(200_000)
    expect(prefix.byteLength).toBe(3)
    expect([...decoder.push(prefix.subarray(0, 2))]).toEqual([])
  })
})

describe('attachments', () => {
  it('carry raw bytes after the JSON, and come back as they went, NUL bytes included', () => {
    const attachment = new Uint8Array([0, 1, 2, 0, 255, 0])
    const frame = encodeFrame({ ...envelope(), attachment }, MAX_FRAME_BYTES)
    const decoder = new FrameDecoder(MAX_FRAME_BYTES)
    const [payload] = [...decoder.push(frame)]
    if (payload === undefined) throw new Error('no frame')
    const decoded = decodeEnvelope(payload)
    expect([...decoded.attachment?.subarray() ?? []]).toEqual([...attachment])
    expect({ ...decoded, attachment: undefined }).toEqual({ ...envelope(), attachment: undefined })
  })

  it('arrive whole when the frame comes in many small chunks, and are handed on without being copied together', () => {
    const attachment = new Uint8Array(10_000).map((_, i) => i % 251)
    const frame = encodeFrame({ ...envelope(), attachment }, MAX_FRAME_BYTES).subarray()
    const decoder = new FrameDecoder(MAX_FRAME_BYTES)
    const payloads: Uint8ArrayList[] = []
    for (let i = 0; i < frame.byteLength; i += 7) payloads.push(...decoder.push(frame.slice(i, i + 7)))
    expect(payloads).toHaveLength(1)
    const decoded = decodeEnvelope(payloads[0] ?? new Uint8ArrayList())
    expect(decoded.body).toEqual(envelope().body)
    expect(decoded.attachment).toBeInstanceOf(Uint8ArrayList)
    expect(decoded.attachment?.subarray()).toEqual(attachment)
  })

  it('count towards the frame cap', () => {
    expect(() => encodeFrame({ ...envelope(), attachment: new Uint8Array(2_000) }, 1_000)).toThrow(FrameError)
  })
})
