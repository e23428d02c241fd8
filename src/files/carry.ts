import { realpath, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { isAbsolute, join, sep } from 'node:path'

/** A message named a file outside the folders this node's owner shares: nothing of it is sent. */
export class NotSharedError extends Error {
  readonly path: string

  constructor (path: string) {
    super(`${path} is not in a shared folder; only files under the folders listed in shareDirs are sent`)
    this.name = 'NotSharedError'
    this.path = path
  }
}

export interface CarryInit {
  /** the folders whose files may leave this node (`~` is the user's home) */
  shareDirs: string[]
  /** sends one file, resolving with where it now lies on the receiver */
  send: (path: string) => Promise<string>
  /** the receiver's own path for a file that came from it (an answer naming the asker's picture): nothing to send */
  returning?: (path: string) => string | undefined
}

const MAX_DEPTH = 8
const MAX_FILES = 16

const expand = (path: string): string => path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path

/**
 * Sends the files a message's data names, then gives the data back with each path rewritten to where its file
 * now lies on the receiver. A string names a file when it is an absolute (or `~/`) path to an existing file; a
 * file outside `shareDirs` (after symbolic links are followed) refuses the whole message, before anything leaves.
 */
export async function carryFiles (data: Record<string, unknown>, init: CarryInit): Promise<Record<string, unknown>> {
  const found = new Map<string, string>()
  await collect(data, 0, found)
  if (found.size === 0) return data
  if (found.size > MAX_FILES) throw new Error(`the message names ${found.size} files; at most ${MAX_FILES} travel with one message`)
  const shared = (await Promise.all(init.shareDirs.map(async dir => realpath(expand(dir)).catch(() => undefined)))).filter(dir => dir !== undefined)
  const remote = new Map<string, string>()
  for (const [text, real] of found) {
    const theirs = init.returning?.(real)
    if (theirs !== undefined) {
      remote.set(text, theirs)
      found.delete(text)
    }
  }
  for (const [text, real] of found) {
    if (!shared.some(dir => real === dir || real.startsWith(dir.endsWith(sep) ? dir : dir + sep))) throw new NotSharedError(text)
  }
  for (const [text, real] of found) remote.set(text, await init.send(real))
  return rewrite(data, remote) as Record<string, unknown>
}

async function collect (value: unknown, depth: number, found: Map<string, string>): Promise<void> {
  if (depth > MAX_DEPTH) return
  if (typeof value === 'string') {
    const path = expand(value)
    if (!isAbsolute(path) || value.length > 4_096 || found.has(value)) return
    const file = await stat(path).catch(() => undefined)
    if (file?.isFile() === true) found.set(value, await realpath(path))
    return
  }
  if (Array.isArray(value)) {
    for (const item of value) await collect(item, depth + 1, found)
  } else if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) await collect(item, depth + 1, found)
  }
}

function rewrite (value: unknown, remote: Map<string, string>): unknown {
  if (typeof value === 'string') return remote.get(value) ?? value
  if (Array.isArray(value)) return value.map(item => rewrite(item, remote))
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, rewrite(item, remote)]))
  return value
}
