import { randomBytes } from 'node:crypto'
import { open, readdir, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

const tempPrefix = (path: string): string => `.${basename(path)}.`

/** Removes the temp files a crash in the middle of `writeFileAtomic` left beside `path`. */
export async function removeStaleTemps (path: string): Promise<void> {
  const prefix = tempPrefix(path)
  const names = await readdir(dirname(path)).catch(() => [])
  await Promise.all(names
    .filter(name => name.startsWith(prefix) && name.endsWith('.tmp'))
    .map(async name => unlink(join(dirname(path), name)).catch(() => {})))
}

/**
 * Writes a file so that a crash at any moment leaves either the old content or the new one, never a mix:
 * write a sibling temp file, flush it to disk, then rename it over the target. `flush: false` skips the flush, for
 * copies that are checked again wherever they are read (a power cut may then leave the old content or an empty file).
 */
export async function writeFileAtomic (path: string, data: string | Uint8Array, mode = 0o600, { flush = true }: { flush?: boolean } = {}): Promise<void> {
  const temp = join(dirname(path), `${tempPrefix(path)}${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(temp, 'wx', mode)
  try {
    await handle.writeFile(data)
    if (flush) await handle.sync()
  } catch (err) {
    await handle.close()
    await unlink(temp).catch(() => {})
    throw err
  }
  await handle.close()
  try {
    await rename(temp, path)
  } catch (err) {
    await unlink(temp).catch(() => {})
    throw err
  }
}
