/**
 * A computational server for a real OVOS: the kitchen runs the real OVOS core from PyPI, bridged by a mesh node,
 * with a parent "brain" whose stand-in vision skill reads pictures. A request put on the kitchen's real
 * messagebus (as one of its skills would) travels up with its picture, and the result lands on that real bus.
 * Needs Python 3.10+; see scripts/ovos/README.md.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BusProbe } from '../../support/bus-probe.ts'
import { Homes, NodeProcess } from '../../support/node-process.ts'
import { FALLBACK_UNKNOWN, OVOS_SKIP_MESSAGE, OvosInstance, ovosVenv, pythonOrSkip } from '../../support/ovos.ts'
import { encodePng } from '../../support/png.ts'
import { StandInVisionSkill } from '../../support/stand-in-vision-skill.ts'
import { waitFor } from '../../support/wait.ts'

const python = pythonOrSkip()
const SETUP_TIMEOUT_MS = 15 * 60_000
const RESULTS = ['speak', 'image_classification_result']

describe.skipIf(python === null)('a picture request from a real OVOS bus', () => {
  const homes = new Homes()
  let core: OvosInstance | undefined
  let brain: NodeProcess | undefined
  let kitchen: NodeProcess | undefined
  let vision: StandInVisionSkill | undefined
  let kitchenBus: BusProbe
  let dir: string

  beforeAll(async () => {
    const venv = await ovosVenv()
    if (venv === null) throw new Error(OVOS_SKIP_MESSAGE)
    dir = await mkdtemp(join(tmpdir(), 'mm-ovos-files-'))
    await mkdir(join(dir, 'camera'))
    core = await OvosInstance.start({ venv, name: 'kitchen', skills: [FALLBACK_UNKNOWN] })
    brain = await new NodeProcess({ home: await homes.make('mm-brain-'), name: 'brain', bus: 'embedded:0', config: { servedTypes: ['image_classification_request'], deliveredTypes: RESULTS } }).start()
    vision = await new StandInVisionSkill({ outDir: join(dir, 'dreams') }).connect((await brain.status()).bus.url ?? '')
    kitchen = await new NodeProcess({
      home: await homes.make('mm-kitchen-'), name: 'kitchen', bus: core.busUrl, parent: await brain.addr(),
      config: { forwardTypes: ['image_classification_request'], deliveredTypes: RESULTS, shareDirs: [join(dir, 'camera')] }
    }).start()
    await waitFor('the kitchen to link', async () => (await kitchen?.status())?.parent.state === 'linked')
    kitchenBus = await BusProbe.connect(core.busUrl)
  }, SETUP_TIMEOUT_MS)

  afterAll(async () => {
    await kitchenBus?.close()
    await vision?.close()
    await Promise.all([kitchen?.kill(), brain?.kill()])
    await core?.stop()
    await homes.cleanup()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('sends the picture up, and the classification lands on the real bus', async () => {
    const picture = join(dir, 'camera', 'feed.png')
    await writeFile(picture, encodePng(40, 30, () => [230, 30, 30]))
    const since = kitchenBus.mark
    kitchenBus.emit({ type: 'image_classification_request', data: { file: picture }, context: { source: 'vision-skill', destination: ['skills'] } })
    const result = await kitchenBus.waitFor('the result on the real bus', message => message.type === 'image_classification_result', 20_000, { since })
    expect(result.data).toMatchObject({ file: picture })
    expect(result.data.classification).toEqual(expect.arrayContaining(['40x30 pixels', 'mostly red']))
    // the real bus echoes every frame: the node forwarded the request once, and did not send its own result back up
    const brainFigures = await brain?.status() as unknown as { bus: { fromChildren?: number } }
    expect(brainFigures.bus.fromChildren).toBe(1)
  }, 60_000)
})
