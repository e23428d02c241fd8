import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BusProbe, type BusMessage } from './bus-probe.ts'
import { decodePng, encodePng } from './png.ts'

/**
 * A test double of a heavy vision skill on a computational server's bus (a real one would run a neural
 * network): it really reads the picture it is sent — its type, pixel size and colour statistics — and answers
 * `image_classification_request {file}` with `image_classification_result {classification}` at once, and
 * `dream.request {file}` later with `dream.result {picture}`, a new picture it writes into `outDir`.
 * Answers are `forward`s of the request, as an OVOS skill's are, so they go back to whoever asked.
 */
export class StandInVisionSkill {
  private bus?: BusProbe
  private readonly outDir: string
  private readonly dreamMs: number

  constructor ({ outDir, dreamMs = 2_000 }: { outDir: string, dreamMs?: number }) {
    this.outDir = outDir
    this.dreamMs = dreamMs
  }

  async connect (url: string): Promise<this> {
    await mkdir(this.outDir, { recursive: true })
    const bus = await BusProbe.connect(url)
    this.bus = bus
    bus.on('image_classification_request', message => { void this.classify(bus, message) })
    bus.on('dream.request', message => { void this.dream(bus, message) })
    return this
  }

  async close (): Promise<void> {
    await this.bus?.close()
  }

  private async classify (bus: BusProbe, message: BusMessage): Promise<void> {
    try {
      bus.forward(message, 'image_classification_result', { file: message.data.file, classification: describe(await readFile(String(message.data.file))) })
    } catch (err) {
      bus.forward(message, 'image_classification_result', { file: message.data.file, error: (err as Error).message })
    }
  }

  /** A "deep dream": the picture with its colours turned around, some minutes (here: `dreamMs`) later. */
  private async dream (bus: BusProbe, message: BusMessage): Promise<void> {
    const picture = decodePng(await readFile(String(message.data.file)))
    await new Promise(resolve => setTimeout(resolve, this.dreamMs))
    const path = join(this.outDir, `dream-${Date.now()}.png`)
    const at = (x: number, y: number, k: number): number => picture.rgb[(y * picture.width + x) * 3 + k] ?? 0
    await writeFile(path, encodePng(picture.width, picture.height, (x, y) => [255 - at(x, y, 2), 255 - at(x, y, 0), 255 - at(x, y, 1)]))
    bus.forward(message, 'dream.result', { picture: path, of: message.data.file })
  }
}

/** What the file is, how big, and what colour it mostly is: words a user can check against the picture. */
export function describe (file: Uint8Array): string[] {
  if (file[0] === 0xff && file[1] === 0xd8) return ['jpeg image', ...jpegSize(file)]
  const picture = decodePng(file)
  const sums = [0, 0, 0]
  for (let p = 0; p < picture.width * picture.height; p++) for (let k = 0; k < 3; k++) sums[k] = (sums[k] ?? 0) + (picture.rgb[p * 3 + k] ?? 0)
  const mean = sums.map(sum => Math.round(sum / Math.max(1, picture.width * picture.height)))
  const names = ['red', 'green', 'blue']
  const strongest = mean.indexOf(Math.max(...mean))
  const brightness = (mean.reduce((a, b) => a + b, 0)) / 3
  return [
    'png image',
    `${picture.width}x${picture.height} pixels`,
    `mostly ${names[strongest] ?? '?'}`,
    brightness > 170 ? 'bright' : brightness < 85 ? 'dark' : 'medium brightness',
    `mean colour rgb(${mean.join(', ')})`
  ]
}

function jpegSize (file: Uint8Array): string[] {
  for (let i = 2; i + 9 < file.length;) {
    if (file[i] !== 0xff) break
    const marker = file[i + 1] ?? 0
    const length = ((file[i + 2] ?? 0) << 8) + (file[i + 3] ?? 0)
    if (marker >= 0xc0 && marker <= 0xc3) return [`${((file[i + 7] ?? 0) << 8) + (file[i + 8] ?? 0)}x${((file[i + 5] ?? 0) << 8) + (file[i + 6] ?? 0)} pixels`]
    i += 2 + length
  }
  return []
}
