import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createReadStream, createWriteStream } from 'node:fs'
import { BusProbe } from '../../support/bus-probe.ts'
import { NodeProcess, runCli } from '../../support/node-process.ts'
import { decodePng, encodePng } from '../../support/png.ts'
import { StandInVisionSkill } from '../../support/stand-in-vision-skill.ts'
import { waitFor } from '../../support/wait.ts'
import { Rooms, type Room } from '../helpers/rooms.ts'
import type { InboxEntry, TransferState } from '../../src/files/index.ts'

/**
 * Files and the computational server: a file sent to a linked node arrives whole and verified; a child's skill
 * asks its parent's heavy skill about a picture, the picture travels first, and the answer comes back — at once,
 * or minutes later with a picture of its own.
 */

const rooms = new Rooms()
const skills: StandInVisionSkill[] = []
let dir: string

beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'mm-files-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
afterEach(async () => {
  await Promise.all(skills.splice(0).map(async skill => skill.close()))
  await rooms.cleanup()
})

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')
const filesOf = async (room: Room): Promise<{ inbox: InboxEntry[], transfers: TransferState[] }> =>
  JSON.parse((await runCli(['files', '--home', room.node.home, '--json'])).stdout) as { inbox: InboxEntry[], transfers: TransferState[] }

const RESULTS = ['speak', 'image_classification_result', 'dream.result']

/** A brain with the stand-in vision skill, and a kitchen whose skills forward picture requests to it. */
async function brainAndKitchen (): Promise<{ brain: Room, kitchen: Room, pictures: string, dreams: string }> {
  const pictures = join(dir, `pictures-${randomBytes(3).toString('hex')}`)
  const dreams = join(dir, `dreams-${randomBytes(3).toString('hex')}`)
  await mkdir(pictures)
  const brain = await rooms.room('brain', { config: { servedTypes: ['image_classification_request', 'dream.request'], deliveredTypes: RESULTS, shareDirs: [dreams] } })
  const url = (await brain.node.status()).bus.url ?? ''
  skills.push(await new StandInVisionSkill({ outDir: dreams, dreamMs: 1_500 }).connect(url))
  const kitchen = await rooms.room('kitchen', { parent: brain, config: { forwardTypes: ['image_classification_request', 'dream.request'], deliveredTypes: RESULTS, shareDirs: [pictures] } })
  return { brain, kitchen, pictures, dreams }
}

describe('send-file', () => {
  it('sends a file to the parent, verified, where `files` lists it, and the sender\'s bus hears it done', async () => {
    const brain = await rooms.room('brain')
    const kitchen = await rooms.room('kitchen', { parent: brain })
    const content = randomBytes(5 * 1024 * 1024 + 17)
    const path = join(dir, 'recording.wav')
    await writeFile(path, content)
    const mark = kitchen.bus.mark
    const sent = await runCli(['send-file', '--home', kitchen.node.home, '--to', 'parent', path])
    expect(sent.stderr).toBe('')
    expect(sent.code).toBe(0)
    const entry = (await filesOf(brain)).inbox.find(candidate => candidate.sha256 === sha256(content))
    expect(entry).toMatchObject({ from: 'kitchen', size: content.length, purpose: 'send-file' })
    expect(sent.stdout).toContain(`it lies at ${entry?.path ?? '?'} there`)
    expect(sha256(await readFile(entry?.path ?? ''))).toBe(sha256(content))
    const done = await kitchen.bus.waitFor('mesh.file.done', message => message.type === 'mesh.file.done', 5_000, { since: mark })
    expect(done.data).toMatchObject({ direction: 'send', name: 'recording.wav', total: content.length, path: entry?.path })
    // nothing is left half-way in the brain's partial folder
    expect((await readdir(join(brain.node.home, 'files', 'partial'))).filter(name => name.endsWith('.part'))).toEqual([])
  }, 30_000)

  it('says what to do when the node named is not linked, and exits non-zero', async () => {
    const brain = await rooms.room('brain')
    const path = join(dir, 'note.txt')
    await writeFile(path, 'hello')
    const sent = await runCli(['send-file', '--home', brain.node.home, '--to', 'attic', path])
    expect(sent.code).not.toBe(0)
    expect(sent.stderr).toContain('no node named attic is linked')
  }, 20_000)
})

/** A big file of known content, written without holding it in memory. */
async function bigFile (path: string, mebibytes: number): Promise<string> {
  const hash = createHash('sha256')
  const out = createWriteStream(path)
  for (let i = 0; i < mebibytes; i++) {
    const chunk = Buffer.alloc(1024 * 1024, i % 251)
    hash.update(chunk)
    if (!out.write(chunk)) await new Promise<void>(resolve => { out.once('drain', () => { resolve() }) })
  }
  await new Promise<void>(resolve => { out.end(() => { resolve() }) })
  return hash.digest('hex')
}

describe('a receiver killed mid-file', () => {
  it('takes nothing partial for a finished file on restart, and the sender resumes where it stood', async () => {
    const brain = await rooms.room('brain')
    const kitchen = await rooms.room('kitchen', { parent: brain })
    const path = join(dir, 'film.bin')
    const expected = await bigFile(path, 96)
    const sending = runCli(['send-file', '--home', brain.node.home, '--to', 'kitchen', path])
    // kill it once part of the file is flushed and recorded as verified, well before the end
    const partial = join(kitchen.node.home, 'files', 'partial')
    const verified = async (): Promise<number> => {
      const records = await Promise.all((await readdir(partial)).filter(name => name.endsWith('.json')).map(async name => readFile(join(partial, name), 'utf8').catch(() => '{}')))
      return Math.max(0, ...records.map(text => (JSON.parse(text) as { verified?: number }).verified ?? 0))
    }
    await waitFor('a verified part', async () => await verified() > 0, { timeoutMs: 30_000 })
    await kitchen.node.kill()
    const inbox = join(kitchen.node.home, 'files', 'inbox')
    expect((await readdir(inbox)).filter(name => name.endsWith('film.bin'))).toEqual([])
    const kept = await verified()

    const again = new NodeProcess({ home: kitchen.node.home, name: 'kitchen', parent: await brain.node.addr(), bus: 'embedded:0' })
    await again.start()
    const bus = await BusProbe.connect((await again.status()).bus.url ?? '')
    rooms.adopt({ node: again, bus })
    const sent = await sending
    expect(sent.code, sent.stderr).toBe(0)
    const [name] = (await readdir(inbox)).filter(entry => entry.endsWith('film.bin'))
    const copy = createHash('sha256')
    for await (const chunk of createReadStream(join(inbox, name ?? ''))) copy.update(chunk as Buffer)
    expect(copy.digest('hex')).toBe(expected)
    await brain.node.waitForLog('the resume', line => line.msg.startsWith(`resuming film.bin to kitchen at ${kept} of`))
  }, 120_000)
})

describe('a computational server', () => {
  it('answers a picture request at once: the picture travels first, the result reaches the asking skill', async () => {
    const { brain, kitchen, pictures } = await brainAndKitchen()
    const picture = join(pictures, 'feed.png')
    await writeFile(picture, encodePng(64, 48, () => [20, 40, 220]))
    const mark = kitchen.bus.mark
    kitchen.bus.emit({ type: 'image_classification_request', data: { file: picture }, context: { source: 'vision-skill', destination: ['skills'] } })
    const result = await kitchen.bus.waitFor('the classification', message => message.type === 'image_classification_result', 15_000, { since: mark })
    expect(result.data.classification).toEqual(expect.arrayContaining(['png image', '64x48 pixels', 'mostly blue']))
    // the brain's skill read the brain's own copy; the answer names the picture by the kitchen's path again
    const request = brain.bus.of('image_classification_request').at(-1)
    expect(String(request?.data.file)).toContain(join(brain.node.home, 'files', 'inbox'))
    expect(request?.context).toMatchObject({ destination: ['kitchen'], mesh: { from: 'kitchen' } })
    expect(result.data.file).toBe(picture)
  }, 30_000)

  it('answers a dream later with a picture, which lands in the asker\'s inbox', async () => {
    const { kitchen, pictures } = await brainAndKitchen()
    const picture = join(pictures, 'garden.png')
    await writeFile(picture, encodePng(32, 32, (x, y) => [x * 8, y * 8, 100]))
    const mark = kitchen.bus.mark
    kitchen.bus.emit({ type: 'dream.request', data: { file: picture }, context: { source: 'dream-skill', destination: ['skills'] } })
    const result = await kitchen.bus.waitFor('the dream', message => message.type === 'dream.result', 20_000, { since: mark })
    const dreamed = String(result.data.picture)
    expect(dreamed).toContain(join(kitchen.node.home, 'files', 'inbox'))
    const decoded = decodePng(await readFile(dreamed))
    expect([decoded.width, decoded.height]).toEqual([32, 32])
    // the dream is the picture with its colours turned around: pixel (0, 0) was rgb(0, 0, 100)
    expect([...decoded.rgb.subarray(0, 3)]).toEqual([155, 255, 255])
  }, 40_000)

  it('refuses a request naming a file outside the shared folders, and sends nothing of it', async () => {
    const { brain, kitchen } = await brainAndKitchen()
    const secret = join(dir, `id_rsa-${randomBytes(3).toString('hex')}`)
    await writeFile(secret, 'PRIVATE KEY')
    const mark = kitchen.bus.mark
    kitchen.bus.emit({ type: 'image_classification_request', data: { file: secret }, context: { source: 'vision-skill' } })
    const failed = await kitchen.bus.waitFor('the refusal', message => message.type === 'mesh.forward.failed', 10_000, { since: mark })
    expect(failed.data).toMatchObject({ type: 'image_classification_request', to: 'brain' })
    expect(String(failed.data.reason)).toContain('not in a shared folder')
    expect(brain.bus.of('image_classification_request')).toEqual([])
    expect((await filesOf(brain)).inbox).toEqual([])
    await kitchen.node.waitForLog('the refusal logged', line => line.msg.includes('did not send a image_classification_request'))
  }, 30_000)
})
