import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ExitCode, UserError } from '../../src/common/index.ts'
import { loadOrCreateIdentity } from '../../src/node/index.ts'

let dir: string
let keyPath: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mm-identity-'))
  keyPath = join(dir, 'identity.key')
})
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

/** A real pino logger whose JSON lines land in an array. */
function captureLog (): { log: pino.Logger, lines: Array<{ level: number, msg: string, [key: string]: unknown }> } {
  const lines: Array<{ level: number, msg: string }> = []
  const log = pino({ level: 'info', base: undefined }, { write: (line: string) => { lines.push(JSON.parse(line) as { level: number, msg: string }) } })
  return { log, lines }
}

const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777

async function userError (promise: Promise<unknown>): Promise<UserError> {
  const err: unknown = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(UserError)
  return err as UserError
}

describe('loadOrCreateIdentity', () => {
  it('creates an Ed25519 key in a file only its owner can read', async () => {
    const identity = await loadOrCreateIdentity(keyPath)
    expect(identity.created).toBe(true)
    expect(identity.privateKey.type).toBe('Ed25519')
    expect(identity.peerId.toString()).toMatch(/^12D3KooW[1-9A-HJ-NP-Za-km-z]+$/)
    expect(await modeOf(keyPath)).toBe(0o600)
    // the file holds the key itself, and no temp file is left beside it
    const stored = privateKeyFromProtobuf(await readFile(keyPath))
    expect(stored.equals(identity.privateKey)).toBe(true)
    expect(await readdir(dir)).toEqual(['identity.key'])
  })

  it('keeps the file at 0600 even under a permissive umask', async () => {
    const previous = process.umask(0o000)
    try {
      await loadOrCreateIdentity(keyPath)
    } finally {
      process.umask(previous)
    }
    expect(await modeOf(keyPath)).toBe(0o600)
  })

  it('gives the same peer id on every later load, without rewriting the key', async () => {
    const first = await loadOrCreateIdentity(keyPath)
    const bytes = await readFile(keyPath)
    const again = await loadOrCreateIdentity(keyPath)
    const third = await loadOrCreateIdentity(keyPath)
    expect(again.created).toBe(false)
    expect(again.peerId.toString()).toBe(first.peerId.toString())
    expect(third.peerId.toString()).toBe(first.peerId.toString())
    expect(await readFile(keyPath)).toEqual(bytes)
  })

  it('gives a new peer id for a new home', async () => {
    const a = await loadOrCreateIdentity(keyPath)
    const b = await loadOrCreateIdentity(join(dir, 'other.key'))
    expect(b.peerId.toString()).not.toBe(a.peerId.toString())
  })

  it('tightens a key file others can read to 0600, with a warning', async () => {
    const created = await loadOrCreateIdentity(keyPath)
    await chmod(keyPath, 0o644)
    const { log, lines } = captureLog()
    const loaded = await loadOrCreateIdentity(keyPath, log)
    expect(loaded.peerId.toString()).toBe(created.peerId.toString())
    expect(await modeOf(keyPath)).toBe(0o600)
    const warning = lines.find(line => line.level === 40)
    expect(warning?.msg).toMatch(/readable by others; tightened to 0600/)
    expect(warning).toMatchObject({ path: keyPath, mode: '644' })
  })

  it('leaves a 0600 key file alone and says nothing', async () => {
    await loadOrCreateIdentity(keyPath)
    const { log, lines } = captureLog()
    await loadOrCreateIdentity(keyPath, log)
    expect(lines).toEqual([])
    expect(await modeOf(keyPath)).toBe(0o600)
  })

  it.each<[string, () => Uint8Array | Promise<Uint8Array>]>([
    ['garbage bytes', () => Buffer.from('this is not a key, it is a shopping list\n')],
    ['an empty file', () => Buffer.alloc(0)],
    ['a truncated key', async () => {
      const good = join(dir, 'good.key')
      await loadOrCreateIdentity(good)
      return (await readFile(good)).subarray(0, 20)
    }]
  ])('refuses %s with a message that says what to do, and keeps the file', async (_label, makeBytes) => {
    const bytes = await makeBytes()
    await writeFile(keyPath, bytes, { mode: 0o600 })
    const err = await userError(loadOrCreateIdentity(keyPath))
    expect(err.exitCode).toBe(ExitCode.failure)
    expect(err.message).toContain(keyPath)
    expect(err.message).toMatch(/unreadable/)
    expect(err.message).toMatch(/restore it from a backup, or move it away to start as a new peer/)
    // the user's file is not replaced by a fresh identity behind their back
    expect(await readFile(keyPath)).toEqual(bytes)
  })
})
