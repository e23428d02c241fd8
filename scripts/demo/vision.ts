/**
 * `npm run demo -- --vision`: a computational server you can try. A "brain" node with a stand-in vision skill
 * (it really reads the picture: type, size, colours) and a kitchen node whose local skill asks about a picture
 * from its camera folder: the picture travels to the brain first, then the question; the classification comes
 * back at once; a "dream" of the picture comes back later, as a picture of its own in the kitchen's inbox.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BusProbe } from '../../support/bus-probe.ts'
import { NodeProcess } from '../../support/node-process.ts'
import { decodePng, encodePng } from '../../support/png.ts'
import { describe, StandInVisionSkill } from '../../support/stand-in-vision-skill.ts'
import { waitFor } from '../../support/wait.ts'

type Say = (who: string, text: string) => void

const RESULTS = ['speak', 'image_classification_result', 'dream.result']

export async function visionDemo (base: string, say: Say): Promise<void> {
  const camera = join(base, 'camera')
  const dreams = join(base, 'dreams')
  await mkdir(camera, { recursive: true })
  const nodes: NodeProcess[] = []
  const closers: Array<() => Promise<void>> = []
  try {
    say('demo', 'starting brain (a computational server with a vision skill) and kitchen (a small node with a camera)')
    const brain = await new NodeProcess({
      home: join(base, 'brain'), name: 'brain', bus: 'embedded:0', heartbeatMs: 2_000,
      config: { servedTypes: ['image_classification_request', 'dream.request'], deliveredTypes: RESULTS, shareDirs: [dreams] }
    }).start()
    nodes.push(brain)
    const vision = await new StandInVisionSkill({ outDir: dreams, dreamMs: 5_000 }).connect((await brain.status()).bus.url ?? '')
    closers.push(async () => vision.close())
    const kitchen = await new NodeProcess({
      home: join(base, 'kitchen'), name: 'kitchen', bus: 'embedded:0', heartbeatMs: 2_000, parent: await brain.addr(),
      config: { forwardTypes: ['image_classification_request', 'dream.request'], deliveredTypes: RESULTS, shareDirs: [camera] }
    }).start()
    nodes.push(kitchen)
    await waitFor('the kitchen to link', async () => (await kitchen.status()).parent.state === 'linked')
    const kitchenBus = await BusProbe.connect((await kitchen.status()).bus.url ?? '')
    const brainBus = await BusProbe.connect((await brain.status()).bus.url ?? '')
    closers.push(async () => kitchenBus.close(), async () => brainBus.close())
    brainBus.onMessage(message => {
      if (message.type !== 'mesh.file.done') return
      say('brain', message.data.direction === 'send'
        ? `sent ${String(message.data.name)} down to ${String(message.data.peer)}: ${String(message.data.path)}`
        : `has ${String(message.data.name)} from ${String(message.data.peer)} (${String(message.data.total)} bytes), verified: ${String(message.data.path)}`)
    })
    brainBus.onMessage(message => {
      if (message.type.endsWith('_request') || message.type === 'dream.request') say('brain', `bus: ${message.type} from ${String((message.context.mesh as { from?: string }).from)}, file ${String(message.data.file)}`)
    })

    const feed = join(camera, 'feed.png')
    await writeFile(feed, encodePng(320, 240, (x, y) => [40 + (x % 40), 90 + (y % 60), 210]))
    say('kitchen', `the camera saved ${feed}; the local vision skill asks the mesh what is in it`)
    let since = kitchenBus.mark
    kitchenBus.emit({ type: 'image_classification_request', data: { file: feed }, context: { source: 'vision-skill', destination: ['skills'] } })
    const result = await kitchenBus.waitFor('the classification', message => message.type === 'image_classification_result', 30_000, { since })
    say('kitchen', `bus: image_classification_result: ${(result.data.classification as string[]).join(', ')}`)

    say('kitchen', 'the local skill asks the brain to dream about the same picture (a long job)')
    since = kitchenBus.mark
    kitchenBus.emit({ type: 'dream.request', data: { file: feed }, context: { source: 'dream-skill', destination: ['skills'] } })
    const dream = await kitchenBus.waitFor('the dream', message => message.type === 'dream.result', 60_000, { since })
    const picture = decodePng(await readFile(String(dream.data.picture)))
    say('kitchen', `bus: dream.result: a ${picture.width}x${picture.height} picture, now at ${String(dream.data.picture)}`)
    say('kitchen', `the dream, described: ${describe(await readFile(String(dream.data.picture))).join(', ')}`)
  } finally {
    for (const close of closers) await close()
    await Promise.all(nodes.map(async node => node.stop()))
  }
}
