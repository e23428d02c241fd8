/** How a sender reads the file it streams: the bytes offered, from where the receiver stands, and no others. */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fileChunks } from '../../src/files/wire.ts'

describe('a file read for sending', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'mm-chunks-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  const collect = async (chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> => {
    const all: Uint8Array[] = []
    for await (const chunk of chunks) all.push(chunk)
    return all
  }

  it('gives the bytes from the resume offset to the end offered, in chunks of the size asked', async () => {
    const path = join(dir, 'whole.bin')
    const content = randomBytes(300_000)
    await writeFile(path, content)
    const chunks = await collect(fileChunks(path, 1_000, content.byteLength, 64 * 1024))
    expect(chunks.map(chunk => chunk.byteLength)).toEqual([65_536, 65_536, 65_536, 65_536, 36_856])
    expect(Buffer.concat(chunks).equals(content.subarray(1_000))).toBe(true)
  })

  it('says the file changed when it ends before the size offered, rather than sending less', async () => {
    const path = join(dir, 'shrinking.bin')
    await writeFile(path, randomBytes(200_000))
    const chunks = fileChunks(path, 0, 200_000, 64 * 1024)
    expect((await chunks.next()).value).toHaveLength(65_536)
    await truncate(path, 100_000)
    await expect(collect(chunks)).rejects.toThrow(/^the file ended at \d+ bytes, before the 200000 offered: it changed while it was sent$/)
  })
})
