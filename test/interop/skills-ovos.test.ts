/**
 * A skill published by a master with no OVOS reaches a child running the real ovos-core from PyPI: the child's
 * node verifies it, installs it through OVOS's own installer on the bus (offline: allow_pip, a local constraints
 * file, pip kept off the network), waits until core loaded it, and then the new skill answers its phrase on the
 * child's bus. Needs Python 3.10+; see scripts/ovos/README.md.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BusProbe } from '../../support/bus-probe.ts'
import { Homes, NodeProcess, runCli } from '../../support/node-process.ts'
import { buildWheel, FALLBACK_UNKNOWN, LISTENER_CONTEXT, OVOS_SKIP_MESSAGE, OvosInstance, ovosVenv, pipUninstall, pythonOrSkip } from '../../support/ovos.ts'
import { waitFor } from '../../support/wait.ts'

const python = pythonOrSkip()
const SETUP_TIMEOUT_MS = 15 * 60_000
const SKILL_SOURCE = fileURLToPath(new URL('../fixtures/ovos-skill-mesh-motto', import.meta.url))
const PACKAGE = 'ovos-skill-mesh-motto'

describe.skipIf(python === null)('a skill published from the master, installed on a real OVOS', () => {
  const homes = new Homes()
  let venv: string
  let core: OvosInstance | undefined
  let master: NodeProcess | undefined
  let kitchen: NodeProcess | undefined
  let bus: BusProbe
  let dir: string

  beforeAll(async () => {
    const found = await ovosVenv()
    if (found === null) throw new Error(OVOS_SKIP_MESSAGE)
    venv = found
    await pipUninstall(venv, PACKAGE)
    dir = await mkdtemp(join(tmpdir(), 'mm-ovos-skills-'))
    await cp(SKILL_SOURCE, join(dir, 'source'), { recursive: true })
    core = await OvosInstance.start({ venv, name: 'kitchen', skills: [FALLBACK_UNKNOWN], installer: true })
    master = await new NodeProcess({ home: await homes.make('mm-master-'), name: 'master', bus: 'none', open: false }).start()
    const init = await runCli(['skills', 'init', '--home', master.home])
    expect(init.code, init.stderr).toBe(0)
    const invited = await runCli(['invite', '--home', master.home, '--name', 'kitchen'])
    kitchen = await new NodeProcess({ home: await homes.make('mm-kitchen-'), name: 'kitchen', bus: core.busUrl, open: false, extraArgs: ['--join', invited.stdout.trim().split('\n').at(-1) ?? ''] }).start()
    await waitFor('the kitchen to join', async () => (await kitchen?.status())?.parent.state === 'linked')
    bus = await BusProbe.connect(core.busUrl)
  }, SETUP_TIMEOUT_MS)

  afterAll(async () => {
    await bus?.close()
    await Promise.all([kitchen?.kill(), master?.kill()])
    await core?.stop()
    await homes.cleanup()
    if (venv !== undefined) await pipUninstall(venv, PACKAGE)
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('installs it through the bus, and the new skill answers on the child', async () => {
    const wheel = await buildWheel(venv, join(dir, 'source'), join(dir, 'wheels'))
    expect((await runCli(['skills', 'add', '--home', master?.home ?? '', wheel])).code).toBe(0)
    const since = bus.mark
    expect((await runCli(['skills', 'publish', '--home', master?.home ?? ''])).code).toBe(0)
    await bus.waitFor('OVOS\'s installer asked', message => message.type === 'ovos.pip.install', 20_000, { since })
    await bus.waitFor('the install complete', message => message.type === 'ovos.pip.install.complete', 60_000, { since })
    const installed = await bus.waitFor('the node to report it installed', message => message.type === 'mesh.skill.installed', 90_000, { since })
    expect(installed.data).toEqual({ name: PACKAGE, version: '1.0.0' })

    const asked = bus.mark
    bus.emit({ type: 'recognizer_loop:utterance', data: { utterances: ['mesh motto'], lang: 'en-US' }, context: { ...LISTENER_CONTEXT, session: { session_id: 'motto-check' } } })
    const spoken = await bus.waitFor('the new skill to answer', message => message.type === 'speak', 20_000, { since: asked })
    expect(spoken.data.utterance).toBe('we are one')
  }, 240_000)
})
