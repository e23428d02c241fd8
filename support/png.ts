import { crc32, deflateSync, inflateSync } from 'node:zlib'

/** An RGB picture, 8 bits per channel, rows top to bottom. */
export interface Picture {
  width: number
  height: number
  rgb: Uint8Array
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

function chunk (type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, 'latin1')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0)
  return Buffer.concat([head, data, crc])
}

/** A PNG of `width`×`height` whose pixel at (x, y) is `colour(x, y)`; rows unfiltered, as the simplest encoders write them. */
export function encodePng (width: number, height: number, colour: (x: number, y: number) => [number, number, number]): Buffer {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr.set([8, 2, 0, 0, 0], 8)
  const raw = Buffer.alloc(height * (1 + width * 3))
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 3)
    for (let x = 0; x < width; x++) raw.set(colour(x, y), row + 1 + x * 3)
  }
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}

function paeth (a: number, b: number, c: number): number {
  const p = a + b - c
  const pa = Math.abs(p - a)
  const pb = Math.abs(p - b)
  const pc = Math.abs(p - c)
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
}

/** Reads an 8-bit RGB, RGBA, grey or grey-alpha PNG (any row filter, no interlacing) into RGB pixels. */
export function decodePng (file: Uint8Array): Picture {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength)
  if (!bytes.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG')
  let offset = 8
  let width = 0
  let height = 0
  let channels = 0
  const data: Buffer[] = []
  while (offset + 8 <= bytes.length) {
    const length = bytes.readUInt32BE(offset)
    const type = bytes.toString('latin1', offset + 4, offset + 8)
    const body = bytes.subarray(offset + 8, offset + 8 + length)
    if (type === 'IHDR') {
      width = body.readUInt32BE(0)
      height = body.readUInt32BE(4)
      const [depth, colourType, , , interlace] = body.subarray(8, 13)
      channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[colourType ?? -1] ?? 0
      if (depth !== 8 || channels === 0 || interlace !== 0) throw new Error('only 8-bit, non-interlaced grey or RGB(A) PNGs are read')
    } else if (type === 'IDAT') {
      data.push(body)
    }
    offset += 12 + length
  }
  const raw = inflateSync(Buffer.concat(data))
  const stride = width * channels
  const pixels = Buffer.alloc(height * stride)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i] ?? 0
      const a = i >= channels ? pixels[y * stride + i - channels] ?? 0 : 0
      const b = y > 0 ? pixels[(y - 1) * stride + i] ?? 0 : 0
      const c = i >= channels && y > 0 ? pixels[(y - 1) * stride + i - channels] ?? 0 : 0
      const predicted = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter ?? 0] ?? 0
      pixels[y * stride + i] = (x + predicted) & 0xff
    }
  }
  const rgb = new Uint8Array(width * height * 3)
  for (let p = 0; p < width * height; p++) {
    const grey = channels < 3
    for (let k = 0; k < 3; k++) rgb[p * 3 + k] = pixels[p * channels + (grey ? 0 : k)] ?? 0
  }
  return { width, height, rgb }
}
