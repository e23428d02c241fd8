import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create } from 'tar'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { BusProbe } from '../../support/bus-probe.ts'
import { Homes, NodeProcess, runCli } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'
import { frame, openLink, RawPeers } from '../helpers/raw-peer.ts'

/**
 * Skill updates down a real tree of node processes: a master publishes, a hub that joined it by invite verifies
 * and installs, then serves the same bytes to the kitchen that joined the hub, which installs too; each outcome
 * reaches the master. Nothing moves up, and a node with no pinned root takes nothing.
 */

const homes = new Homes()
const nodes: NodeProcess[] = []
const probes: BusProbe[] = []
const raw = new RawPeers()
let dir: string

beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'mm-skills-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
afterEach(async () => {
  await raw.stopAll()
  await Promise.all(probes.splice(0).map(async probe => probe.close()))
  await Promise.all(nodes.splice(0).map(async node => node.kill()))
  await homes.cleanup()
})

async function cli (...args: string[]): Promise<string> {
  const result = await runCli(args)
  expect(result.code, result.stderr).toBe(0)
  return result.stdout
}

async function start (name: string, options: { join?: string, open?: boolean } = {}): Promise<{ node: NodeProcess, bus: BusProbe }> {
  const node = new NodeProcess({ home: await homes.make(`mm-${name}-`), name, bus: 'embedded:0', open: options.open ?? false, extraArgs: options.join === undefined ? [] : ['--join', options.join] })
  nodes.push(node)
  await node.start()
  const url = await waitFor(`${name}'s bus`, async () => (await node.status()).bus.url ?? undefined)
  const bus = await BusProbe.connect(url)
  probes.push(bus)
  if (options.join !== undefined) await waitFor(`${name} to join`, async () => (await node.status()).parent.state === 'linked')
  return { node, bus }
}

const invite = async (parent: NodeProcess, name: string): Promise<string> => (await cli('invite', '--home', parent.home, '--name', name)).trim().split('\n').at(-1) ?? ''

/** A skill archive NAME-VERSION.tar.gz holding one file. */
async function archive (name: string, version: string, content: string): Promise<string> {
  const source = join(dir, `${name}-${version}`)
  await mkdir(source, { recursive: true })
  await writeFile(join(source, 'skill.py'), content)
  const file = join(dir, `${name}-${version}.tar.gz`)
  await create({ gzip: true, file, cwd: source }, ['skill.py'])
  return file
}

interface Listing { installed: Record<string, { version: string, previous: string | null }>, lastUpdate?: { ok: boolean, reason?: string } }
const listOf = async (node: NodeProcess): Promise<Listing> => JSON.parse(await cli('skills', 'list', '--home', node.home, '--json')) as Listing

describe('skill updates from the master', () => {
  it('flow down a 3-level tree, verified and installed at each hop, and every node\'s outcome reaches the master', async () => {
    const master = await start('master')
    expect(await cli('skills', 'init', '--home', master.node.home)).toMatch(/made the mesh's skills root [0-9a-f]{64}/)
    const hub = await start('hub', { join: await invite(master.node, 'hub') })
    const kitchen = await start('kitchen', { join: await invite(hub.node, 'kitchen') })

    await cli('skills', 'add', '--home', master.node.home, await archive('ovos-skill-weather', '1.2.0', 'print("sunny")'))
    const since = kitchen.bus.mark
    expect(await cli('skills', 'publish', '--home', master.node.home)).toContain('told 1 child(ren)')
    const installed = await kitchen.bus.waitFor('the kitchen to install', message => message.type === 'mesh.skill.installed', 20_000, { since })
    expect(installed.data).toEqual({ name: 'ovos-skill-weather', version: '1.2.0' })
    const current = join(kitchen.node.home, 'skills', 'installed', 'ovos-skill-weather', 'current')
    expect(await readFile(join(current, 'skill.py'), 'utf8')).toBe('print("sunny")')
    expect((await listOf(hub.node)).installed['ovos-skill-weather']?.version).toBe('1.2.0')

    await waitFor('both outcomes at the master', async () => {
      const status = JSON.parse(await cli('skills', 'status', '--home', master.node.home, '--json')) as { nodes: Array<{ node: string, skills: Record<string, { status: string }> }> }
      return status.nodes.filter(node => node.skills['ovos-skill-weather']?.status === 'installed').length === 2
    })

    // a new version switches over, keeping the old one; a rollback publishes the old one again
    await cli('skills', 'add', '--home', master.node.home, await archive('ovos-skill-weather', '1.3.0', 'print("rain")'))
    await cli('skills', 'publish', '--home', master.node.home)
    await waitFor('1.3.0 in the kitchen', async () => (await listOf(kitchen.node)).installed['ovos-skill-weather']?.version === '1.3.0', { timeoutMs: 20_000 })
    expect(await readlink(current)).toBe('1.3.0')
    expect(await readFile(join(kitchen.node.home, 'skills', 'installed', 'ovos-skill-weather', '1.2.0', 'skill.py'), 'utf8')).toBe('print("sunny")')
    expect(await cli('skills', 'rollback', '--home', master.node.home, 'ovos-skill-weather')).toContain('1.2.0 as the newest')
    await waitFor('1.2.0 again in the kitchen', async () => (await listOf(kitchen.node)).installed['ovos-skill-weather']?.version === '1.2.0', { timeoutMs: 20_000 })
    expect(await readFile(join(current, 'skill.py'), 'utf8')).toBe('print("sunny")')
  }, 90_000)

  it('rotating the keys: the tree moves on to the new root, and an invite made before it still joins', async () => {
    const master = await start('master')
    await cli('skills', 'init', '--home', master.node.home, '--keys', '3', '--threshold', '2')
    const hub = await start('hub', { join: await invite(master.node, 'hub') })
    const earlyInvite = await invite(master.node, 'kitchen')
    await cli('skills', 'add', '--home', master.node.home, await archive('ovos-skill-clock', '1.0.0', 'print("noon")'))
    await cli('skills', 'publish', '--home', master.node.home)
    await waitFor('1.0.0 on the hub', async () => (await listOf(hub.node)).installed['ovos-skill-clock']?.version === '1.0.0', { timeoutMs: 20_000 })

    const refused = await runCli(['skills', 'rotate-keys', '--home', master.node.home, 'rooot'])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain("no role 'rooot'")
    expect(await cli('skills', 'rotate-keys', '--home', master.node.home)).toMatch(/new keys for root, targets, snapshot, timestamp.*Root version 2/s)
    await cli('skills', 'add', '--home', master.node.home, await archive('ovos-skill-clock', '1.1.0', 'print("midnight")'))
    await cli('skills', 'publish', '--home', master.node.home)
    await waitFor('1.1.0 on the hub, signed by the new keys', async () => (await listOf(hub.node)).installed['ovos-skill-clock']?.version === '1.1.0', { timeoutMs: 20_000 })

    const kitchen = await start('kitchen', { join: earlyInvite })
    await waitFor('1.1.0 in the kitchen, pinned before the rotation', async () => (await listOf(kitchen.node)).installed['ovos-skill-clock']?.version === '1.1.0', { timeoutMs: 20_000 })
  }, 90_000)

  it('a node restarted later catches up when it links again', async () => {
    const master = await start('master')
    await cli('skills', 'init', '--home', master.node.home)
    const kitchen = await start('kitchen', { join: await invite(master.node, 'kitchen') })
    await kitchen.node.stop()
    await cli('skills', 'add', '--home', master.node.home, await archive('ovos-skill-timer', '2.0.0', 'print("tick")'))
    await cli('skills', 'publish', '--home', master.node.home)
    const again = new NodeProcess({ home: kitchen.node.home, name: 'kitchen', bus: 'embedded:0', open: false })
    nodes.push(again)
    await again.start()
    await waitFor('the update on re-link', async () => (await listOf(again)).installed['ovos-skill-timer']?.version === '2.0.0', { timeoutMs: 20_000 })
  }, 60_000)

  it('a node killed mid-install keeps the previous version whole, and installs the new one when it comes back', async () => {
    const master = await start('master')
    await cli('skills', 'init', '--home', master.node.home)
    const kitchen = await start('kitchen', { join: await invite(master.node, 'kitchen') })
    await cli('skills', 'add', '--home', master.node.home, await archive('ovos-skill-radio', '1.0.0', 'print("fm")'))
    await cli('skills', 'publish', '--home', master.node.home)
    await waitFor('1.0.0 in the kitchen', async () => (await listOf(kitchen.node)).installed['ovos-skill-radio']?.version === '1.0.0', { timeoutMs: 20_000 })

    // a big second version, so that unpacking it takes a while
    const source = join(dir, 'radio-2')
    await mkdir(source, { recursive: true })
    await writeFile(join(source, 'skill.py'), 'print("dab")')
    for (let i = 0; i < 48; i++) await writeFile(join(source, `model-${i}.bin`), randomBytes(2 * 1024 * 1024))
    const big = join(dir, 'ovos-skill-radio-2.0.0.tar.gz')
    await create({ gzip: true, file: big, cwd: source }, await readdir(source))
    await cli('skills', 'add', '--home', master.node.home, big)
    await cli('skills', 'publish', '--home', master.node.home)
    const skillDir = join(kitchen.node.home, 'skills', 'installed', 'ovos-skill-radio')
    // on a loaded machine the 96 MiB download before the unpack alone can take a while
    await waitFor('the unpacking to begin', async () => (await readdir(skillDir)).some(name => name.endsWith('.tmp')), { timeoutMs: 90_000, intervalMs: 5 })
    await kitchen.node.kill()
    expect(await readFile(join(skillDir, 'current', 'skill.py'), 'utf8')).toBe('print("fm")')
    expect((await readdir(skillDir)).includes('2.0.0')).toBe(false)

    const again = new NodeProcess({ home: kitchen.node.home, name: 'kitchen', bus: 'embedded:0', open: false })
    nodes.push(again)
    await again.start()
    await waitFor('2.0.0 after the restart', async () => (await listOf(again)).installed['ovos-skill-radio']?.version === '2.0.0', { timeoutMs: 30_000 })
    expect(await readFile(join(skillDir, 'current', 'skill.py'), 'utf8')).toBe('print("dab")')
    expect((await readdir(skillDir)).filter(name => name.startsWith('.'))).toEqual([])
  }, 180_000)

  it('a room of a house takes its hub\'s root: the house key vouches for the hub', async () => {
    const key = join(dir, 'house.key')
    await writeFile(key, await cli('house-key'), { mode: 0o600 })
    const hub = new NodeProcess({ home: await homes.make('mm-hub-'), name: 'hall', bus: 'none', open: false, config: { houseKey: key, hub: true } })
    nodes.push(hub)
    await hub.start()
    await cli('skills', 'init', '--home', hub.home)
    await cli('skills', 'add', '--home', hub.home, await archive('ovos-skill-chime', '1.0.0', 'print("ding")'))
    await cli('skills', 'publish', '--home', hub.home)
    const room = new NodeProcess({ home: await homes.make('mm-room-'), name: 'kitchen', bus: 'none', open: false, parent: await hub.addr(), config: { houseKey: key } })
    nodes.push(room)
    await room.start()
    await waitFor('the room to install', async () => (await listOf(room)).installed['ovos-skill-chime']?.version === '1.0.0', { timeoutMs: 20_000 })
  }, 60_000)

  it('a node that pinned no root refuses them, and installs nothing', async () => {
    const master = await start('master', { open: true })
    await cli('skills', 'init', '--home', master.node.home)
    await cli('skills', 'add', '--home', master.node.home, await archive('ovos-skill-weather', '1.2.0', 'print("sunny")'))
    await cli('skills', 'publish', '--home', master.node.home)
    const stranger = new NodeProcess({ home: await homes.make('mm-stranger-'), name: 'stranger', bus: 'none', parent: await master.node.addr() })
    nodes.push(stranger)
    await stranger.start()
    await waitFor('the refusal', async () => (await listOf(stranger)).lastUpdate?.ok === false)
    const listing = await listOf(stranger)
    expect(listing.lastUpdate?.reason).toContain('no pinned mesh root')
    expect(listing.installed).toEqual({})
  }, 60_000)

  it('a parent that stalls mid-file is given up on at the deadline, and nothing is installed', async () => {
    const stalled: string[] = []
    const parent = await raw.parent(link => {
      link.onFrame(received => {
        if (received.kind === 'hello') link.respond(received, 'welcome', { name: 'stalling-parent', version: 'test', capabilities: ['skills'] })
      })
    })
    // says a root of 1,000 bytes is coming, sends ten, then nothing
    await parent.node.handle('/mycroft-mesh/skills/1.0.0', stream => {
      stalled.push('asked')
      stream.send(frame(JSON.stringify({ length: 1_000 })))
      stream.send(frame('0123456789'))
    })
    const home = await homes.make('mm-stalled-')
    await mkdir(join(home, 'skills'), { recursive: true })
    await writeFile(join(home, 'skills', 'pinned-root'), `${'a'.repeat(64)}\n`)
    const kitchen = new NodeProcess({ home, name: 'kitchen', bus: 'none', parent: parent.addr })
    nodes.push(kitchen)
    await kitchen.start()
    await waitFor('the deadline', async () => (await listOf(kitchen)).lastUpdate?.ok === false, { timeoutMs: 40_000 })
    expect(stalled).toEqual(['asked'])
    expect((await listOf(kitchen)).lastUpdate?.reason).toMatch(/timed? ?out|abort/i)
    expect((await listOf(kitchen)).installed).toEqual({})
  }, 60_000)

  it('a child cannot push an update up: the parent refuses it as forbidden', async () => {
    const hub = await start('hub', { open: true })
    const client = await raw.client()
    const link = await openLink(client, await hub.node.addr())
    await link.hello('pusher')
    link.raw(frame(link.envelope({ kind: 'skills-update', body: { version: 99 } })))
    const error = await link.nextError()
    expect(error.body.code).toBe('forbidden')
    expect((await listOf(hub.node)).lastUpdate).toBeUndefined()
  }, 30_000)
})
