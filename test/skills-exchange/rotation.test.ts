import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Metadata, MetadataKind } from '@tufjs/models'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SkillsClient } from '../../src/skills-exchange/client.ts'
import { loadRoleKey } from '../../src/skills-exchange/keys.ts'
import { SkillsRepository } from '../../src/skills-exchange/repository.ts'

/**
 * Key rotation on the master, followed by real TUF clients (tuf-js) pinned to the root from before it: the new
 * root is taken because the old root's keys signed it, what the new keys sign is installed, and what the old keys
 * sign afterwards is not.
 */

let dir: string
let masterDir: string
let repository: SkillsRepository
let firstRoot: string
/** what the "parent" serves: a copy of the master's served folder, taken when a test says so */
let served: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mm-rotate-'))
  masterDir = join(dir, 'master')
  served = join(dir, 'served')
  repository = await SkillsRepository.init(masterDir, { threshold: 2, keys: 3 })
  firstRoot = await repository.rootHash()
})
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

const fetchServed = async (path: string): Promise<Uint8Array | undefined> => readFile(join(served, path)).catch(() => undefined)
async function serveMastersCopy (): Promise<void> {
  await rm(served, { recursive: true, force: true })
  await cp(repository.served, served, { recursive: true })
}
async function pinnedClient (name: string, rootHash = firstRoot): Promise<SkillsClient> {
  const client = new SkillsClient(join(dir, name))
  await client.open()
  await client.pin(rootHash)
  return client
}
async function addSkill (version: string): Promise<void> {
  const file = join(dir, `ovos-skill-weather-${version}.tar.gz`)
  await writeFile(file, `weather skill, version ${version}`)
  await repository.add(file)
}
const secrets = async (): Promise<Record<string, string[]>> => JSON.parse(await readFile(join(masterDir, 'keys.json'), 'utf8')) as Record<string, string[]>
const trustedRootVersion = async (client: SkillsClient): Promise<number> => (JSON.parse(await readFile(join(client.served, 'metadata', 'root.json'), 'utf8')) as { signed: { version: number } }).signed.version
const installable = async (client: SkillsClient): Promise<string[]> => (await client.update(fetchServed)).skills.map(skill => `${skill.name} ${skill.version}`)

describe('rotating the skills keys', () => {
  it('a node that verified under the old root takes the new one, and the skills the new keys sign', async () => {
    await addSkill('1.0.0')
    await repository.publish()
    await serveMastersCopy()
    const node = await pinnedClient('node')
    expect(await installable(node)).toEqual(['ovos-skill-weather 1.0.0'])

    const before = await secrets()
    const { rootVersion } = await repository.rotate(['root', 'targets', 'snapshot', 'timestamp'], { keys: 2, threshold: 1 })
    expect(rootVersion).toBe(2)
    const after = await secrets()
    for (const role of ['root', 'targets', 'snapshot', 'timestamp']) expect(after[role]?.some(key => before[role]?.includes(key))).toBe(false)
    expect(after.root).toHaveLength(2)
    await addSkill('1.1.0')
    await repository.publish()
    await serveMastersCopy()

    expect(await installable(node)).toEqual(['ovos-skill-weather 1.1.0'])
    expect(await trustedRootVersion(node)).toBe(2)
    // the node's own children are pinned to whatever it serves now: the new root
    expect(await node.rootHash()).toBe(await repository.rootHash())
    expect(await node.rootHash()).not.toBe(firstRoot)
  })

  it('an invite made before two rotations still works: the new node walks from the pinned root to the newest', async () => {
    await repository.rotate(['root'])
    await repository.rotate(['root', 'timestamp'])
    await addSkill('2.0.0')
    await repository.publish()
    await serveMastersCopy()
    const late = await pinnedClient('late')
    expect(await installable(late)).toEqual(['ovos-skill-weather 2.0.0'])
    expect(await trustedRootVersion(late)).toBe(3)
  })

  it('a new root signed by the new keys alone is refused (a thief of the new keys is not the mesh)', async () => {
    const node = await pinnedClient('node')
    await serveMastersCopy()
    await node.update(fetchServed)
    const oldRootKeys = (await secrets()).root ?? []
    await repository.rotate(['root'])
    await addSkill('1.0.0')
    await repository.publish()
    await serveMastersCopy()
    const path = join(served, 'metadata', '2.root.json')
    const root = JSON.parse(await readFile(path, 'utf8')) as { signed: unknown, signatures: Array<{ keyid: string }> }
    const oldIds = new Set(oldRootKeys.map(secret => loadRoleKey(secret).key.keyID))
    await writeFile(path, JSON.stringify({ ...root, signatures: root.signatures.filter(signature => !oldIds.has(signature.keyid)) }))
    await expect(node.update(fetchServed)).rejects.toThrow(/root was signed by 0\/2 keys/)
    expect(await trustedRootVersion(node)).toBe(1)
    expect((await readdir(join(node.served, 'targets')))).toEqual([])
  })

  it('after the rotation, what the old timestamp key signs is refused', async () => {
    const oldTimestampKey = loadRoleKey((await secrets()).timestamp?.[0] ?? '')
    await repository.rotate(['timestamp'])
    await addSkill('1.0.0')
    await repository.publish()
    await serveMastersCopy()
    const node = await pinnedClient('node')
    const timestampPath = join(served, 'metadata', 'timestamp.json')
    const current = JSON.parse(await readFile(timestampPath, 'utf8')) as { signed: { version: number } }
    const forged = Metadata.fromJSON(MetadataKind.Timestamp, { ...current, signed: { ...current.signed, version: current.signed.version + 1 }, signatures: [] })
    forged.sign(oldTimestampKey.signer)
    await writeFile(timestampPath, JSON.stringify(forged.toJSON()))
    await expect(node.update(fetchServed)).rejects.toThrow(/timestamp was signed by 0\/1 keys/)
  })

  /** A rotation that fails after the new keys were saved and before the new root is served. */
  async function cutRotationShort (): Promise<void> {
    const metadata = join(repository.served, 'metadata')
    await cp(metadata, join(dir, 'metadata-aside'), { recursive: true })
    await rm(metadata, { recursive: true })
    await writeFile(metadata, 'not a folder: serving the new root fails')
    await expect(repository.rotate(['root', 'targets'])).rejects.toThrow()
    await rm(metadata)
    await cp(join(dir, 'metadata-aside'), metadata, { recursive: true })
  }

  async function installsUnderTheNewRoot (): Promise<void> {
    await addSkill('1.0.0')
    await repository.publish()
    await serveMastersCopy()
    const node = await pinnedClient('node')
    expect(await installable(node)).toEqual(['ovos-skill-weather 1.0.0'])
    expect(await trustedRootVersion(node)).toBe(2)
    expect(await readdir(masterDir)).not.toContain('rotation.json')
  }

  it('a rotation cut off halfway (new keys saved, the new root not yet served) is finished when the master opens again', async () => {
    await cutRotationShort()
    repository = await SkillsRepository.open(masterDir)
    await installsUnderTheNewRoot()
  })

  it('a rotation cut off halfway is finished by the running master before it signs anything else', async () => {
    await cutRotationShort()
    await installsUnderTheNewRoot()
  })
})
