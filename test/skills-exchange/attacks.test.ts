import { createHash } from 'node:crypto'
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Metadata, MetadataKind, MetaFile, Timestamp } from '@tufjs/models'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SkillsClient } from '../../src/skills-exchange/client.ts'
import { loadRoleKey, newRoleKey } from '../../src/skills-exchange/keys.ts'
import { SkillsRepository } from '../../src/skills-exchange/repository.ts'

/**
 * The attacks TUF guards against, each played by a parent that serves a tampered copy of the master's
 * repository to a real TUF client (tuf-js) pinned to the master's root: each update must fail, leaving nothing
 * to install and nothing mirrored for the children.
 */

let dir: string
let repository: SkillsRepository
let client: SkillsClient
/** what the "parent" serves: a copy of the master's served folder, free to tamper with */
let served: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mm-tuf-'))
  repository = await SkillsRepository.init(join(dir, 'master'), { threshold: 2, keys: 3 })
  await writeFile(join(dir, 'ovos-skill-weather-1.2.0.tar.gz'), 'weather skill, version 1.2.0')
  await repository.add(join(dir, 'ovos-skill-weather-1.2.0.tar.gz'))
  await repository.publish()
  client = new SkillsClient(join(dir, 'node'))
  await client.open()
  await client.pin(await repository.rootHash())
  served = join(dir, 'served')
  await cp(repository.served, served, { recursive: true })
})
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

const fetchServed = async (path: string): Promise<Uint8Array | undefined> => readFile(join(served, path)).catch(() => undefined)
const mirrored = async (): Promise<string[]> => [...await readdir(join(client.served, 'targets')), ...await readdir(join(client.served, 'metadata'))]
const targetFile = async (): Promise<string> => join(served, 'targets', (await readdir(join(served, 'targets'))).find(name => name.includes('weather')) ?? '')
const metadataPath = (name: string): string => join(served, 'metadata', name)
type Signed = { signed: Record<string, unknown>, signatures: Array<{ keyid: string, sig: string }> }
const readJson = async (name: string): Promise<Signed> => JSON.parse(await readFile(metadataPath(name), 'utf8')) as Signed
const keys = async (): Promise<Record<string, string[]>> => JSON.parse(await readFile(join(dir, 'master', 'keys.json'), 'utf8')) as Record<string, string[]>

/** An update that must not go through: it throws, and nothing reaches the mirror. */
async function refused (pattern: RegExp): Promise<void> {
  await expect(client.update(fetchServed)).rejects.toThrow(pattern)
  expect((await mirrored()).filter(name => name !== 'root.json' && !name.endsWith('.root.json'))).toEqual([])
}

describe('a parent serving a tampered repository', () => {
  it('serves the real one: the update verifies (the control case)', async () => {
    const { skills } = await client.update(fetchServed)
    expect(skills.map(skill => `${skill.name} ${skill.version}`)).toEqual(['ovos-skill-weather 1.2.0'])
    expect(await readFile(skills[0]?.file ?? '', 'utf8')).toBe('weather skill, version 1.2.0')
  })

  it('a tampered target', async () => {
    const path = await targetFile()
    const bytes = await readFile(path)
    bytes[0] = (bytes[0] ?? 0) ^ 1
    await writeFile(path, bytes)
    await refused(/hash/i)
  })

  it('a target longer than declared (endless data)', async () => {
    const path = await targetFile()
    await writeFile(path, Buffer.concat([await readFile(path), Buffer.from('and more')]))
    await refused(/length/i)
  })

  it('an extra file beside the targets is never taken', async () => {
    await writeFile(join(served, 'targets', `${'e'.repeat(64)}.ovos-skill-evil-6.6.6.tar.gz`), 'evil')
    const { skills } = await client.update(fetchServed)
    expect(skills.map(skill => skill.name)).toEqual(['ovos-skill-weather'])
    expect((await mirrored()).some(name => name.includes('evil'))).toBe(false)
  })

  it('targets signed by a key that is not the targets role\'s', async () => {
    const targets = await readJson('2.targets.json')
    const stranger = newRoleKey()
    const resigned = Metadata.fromJSON(MetadataKind.Targets, { ...targets, signatures: [] } as never)
    resigned.sign(stranger.signer)
    resigned.sign(newRoleKey().signer)
    await writeFile(metadataPath('2.targets.json'), JSON.stringify(resigned.toJSON()))
    await refused(/signed by 0\/2/)
  })

  it('fewer signatures than the threshold', async () => {
    const targets = await readJson('2.targets.json')
    await writeFile(metadataPath('2.targets.json'), JSON.stringify({ ...targets, signatures: [targets.signatures[0]] }))
    await refused(/signed by 1\/2/)
  })

  it('one key\'s signature counted twice to reach the threshold', async () => {
    const targets = await readJson('2.targets.json')
    await writeFile(metadataPath('2.targets.json'), JSON.stringify({ ...targets, signatures: [targets.signatures[0], targets.signatures[0]] }))
    await refused(/multiple signatures found for keyid/)
  })

  it('an older timestamp after a newer one (rollback)', async () => {
    const older = await readFile(metadataPath('timestamp.json'))
    await repository.publish()
    await cp(repository.served, served, { recursive: true })
    await client.update(fetchServed)
    await rm(client.served, { recursive: true })
    await client.open()
    await writeFile(metadataPath('timestamp.json'), older)
    await refused(/less than current version/)
  })

  it('an expired timestamp (freeze)', async () => {
    const snapshot = await readFile(metadataPath('2.snapshot.json'))
    const timestamp = new Metadata(new Timestamp({
      version: 5,
      specVersion: '1.0.31',
      expires: new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      snapshotMeta: new MetaFile({ version: 2, length: snapshot.byteLength, hashes: { sha256: createHash('sha256').update(snapshot).digest('hex') } })
    }))
    const [timestampKey] = (await keys()).timestamp ?? []
    timestamp.sign(loadRoleKey(timestampKey ?? '').signer)
    await writeFile(metadataPath('timestamp.json'), JSON.stringify(timestamp.toJSON()))
    await refused(/expired/i)
  })

  it('targets that do not match the snapshot (mix and match)', async () => {
    const first = await readFile(metadataPath('2.targets.json'))
    await repository.publish()
    await cp(repository.served, served, { recursive: true })
    await writeFile(metadataPath('3.targets.json'), first)
    await refused(/version/i)
  })

  it('another mesh\'s metadata', async () => {
    const other = await SkillsRepository.init(join(dir, 'other-master'))
    await rm(served, { recursive: true })
    await cp(other.served, served, { recursive: true })
    await refused(/not the pinned one/)
  })

  it('a node that pinned no root takes nothing', async () => {
    const unpinned = new SkillsClient(join(dir, 'unpinned'))
    await unpinned.open()
    await expect(unpinned.update(fetchServed)).rejects.toThrow(/no pinned mesh root/)
  })
})
