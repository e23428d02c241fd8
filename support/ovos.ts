/**
 * The real OpenVoiceOS (from PyPI, see scripts/ovos/) for interop tests: a venv, isolated core instances on
 * loopback, and a small bus client. What was learnt about OVOS on the way is in scripts/ovos/README.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BusProbe, type BusMessage } from './bus-probe.ts'
import { freePort } from './ports.ts'

const SETUP_SCRIPT = fileURLToPath(new URL('../scripts/ovos/setup-venv.sh', import.meta.url))

export const HELLO_WORLD = 'ovos-skill-hello-world.openvoiceos'
export const FALLBACK_UNKNOWN = 'ovos-skill-fallback-unknown.openvoiceos'
/** This repository's voice-command skill (skills/ovos-skill-mycroft-mesh), once `installMeshSkill` put it in the venv. */
export const MESH_SKILL = 'ovos-skill-mycroft-mesh.mycroftmesh'
const MESH_SKILL_DIR = fileURLToPath(new URL('../skills/ovos-skill-mycroft-mesh', import.meta.url))

/** Runs the venv's Python; resolves with its stdout, rejects with its output when it fails. */
async function runPython (venv: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = ''
    let output = ''
    const python = spawn(join(venv, 'bin', 'python'), args, { stdio: ['ignore', 'pipe', 'pipe'], env })
    python.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; output += chunk })
    python.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    python.once('exit', code => { if (code === 0) resolve(stdout); else reject(new Error(`python ${args.join(' ')} failed (exit ${code}):\n${output.slice(-3000)}`)) })
  })
}

/** Builds a skill's wheel from its sources into `outDir` (pip fetches setuptools and wheel from PyPI to build it); returns its path. */
export async function buildWheel (venv: string, sourceDir: string, outDir: string): Promise<string> {
  await runPython(venv, ['-m', 'pip', 'wheel', '--disable-pip-version-check', '--no-input', '--no-deps', '-w', outDir, sourceDir])
  const wheel = (await readdir(outDir)).find(name => name.endsWith('.whl'))
  if (wheel === undefined) throw new Error(`pip built no wheel from ${sourceDir}`)
  return join(outDir, wheel)
}

/** Takes a package out of the venv again (the venv is cached between runs); nothing when it is not there. */
export async function pipUninstall (venv: string, name: string): Promise<void> {
  await runPython(venv, ['-m', 'pip', 'uninstall', '--disable-pip-version-check', '-y', name]).catch(() => '')
}

/** Installs this repository's skill into the venv, fresh each time, from its sources (pip builds it with setuptools from PyPI). */
export async function installMeshSkill (venv: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let output = ''
    const pip = spawn(join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--no-deps', '--force-reinstall', MESH_SKILL_DIR], { stdio: ['ignore', 'pipe', 'pipe'] })
    pip.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    pip.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    pip.once('exit', code => { if (code === 0) resolve(); else reject(new Error(`installing ${MESH_SKILL_DIR} into ${venv} failed (exit ${code}):\n${output.slice(-3000)}`)) })
  })
}

/** Why interop tests skip when `findPython()` finds nothing, and how to run them. */
export const OVOS_SKIP_MESSAGE = `SKIPPING the OVOS interop tests: no Python 3.10+ at '${process.env.MYCROFT_MESH_PYTHON ?? 'python3'}'. ` +
  'Install Python 3.10+ with its venv module (Debian/Ubuntu: apt-get install python3 python3-venv) or point ' +
  'MYCROFT_MESH_PYTHON at one; the first run then builds .cache/ovos-venv from PyPI (about a minute).'

/** What the real listener puts on an utterance (fixtures): no session, so core uses the default one. */
export const LISTENER_CONTEXT = { client_name: 'ovos_dinkum_listener', source: 'audio', destination: ['skills'] }

/** A `speak` of one skill. */
export const spokenBy = (skill: string) => (message: BusMessage): boolean =>
  message.type === 'speak' && (message.data.meta as { skill?: string } | undefined)?.skill === skill

/** The Python for the interop tests, or null after saying loudly that they are skipped. */
export function pythonOrSkip (): string | null {
  const python = findPython()
  // eslint-disable-next-line no-console
  if (python === null) console.warn(OVOS_SKIP_MESSAGE)
  return python
}

/** The Python interpreter that setup-venv.sh will use, or null when there is none at 3.10+. Synchronous, for `describe.skipIf`. */
export function findPython (): string | null {
  const python = process.env.MYCROFT_MESH_PYTHON ?? 'python3'
  const probe = spawnSync(python, ['-c', 'import sys; sys.exit(sys.version_info < (3, 10))'], { stdio: 'ignore' })
  return probe.status === 0 ? python : null
}

let venvPromise: Promise<string | null> | undefined

/**
 * Runs scripts/ovos/setup-venv.sh once per test process and returns the venv directory, or null when there is no
 * Python. The first build downloads from PyPI and takes a minute or more; later calls reuse the venv in well under
 * a second. A failing build throws with the script's reason (its progress goes to this process's stderr).
 */
export async function ovosVenv (): Promise<string | null> {
  venvPromise ??= buildVenv()
  return venvPromise
}

async function buildVenv (): Promise<string | null> {
  if (findPython() === null) return null
  const proc = spawn('bash', [SETUP_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] })
  let stdout = ''
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  const venv = stdout.trim().split('\n').at(-1)
  if (code !== 0 || venv === undefined || venv === '') {
    throw new Error(`scripts/ovos/setup-venv.sh failed (exit ${code}); its reason is in the output above`)
  }
  return venv
}

export interface OvosStartOptions {
  venv: string
  /** Names the temp dir and the log lines. */
  name: string
  /** Skill ids to load (e.g. HELLO_WORLD); every other installed skill is blacklisted. */
  skills: string[]
  /** Messagebus port on 127.0.0.1; a free one when left out. */
  port?: number
  /**
   * Run core alone on a bus that already listens at `port` (a mycroft-mesh node's embedded bus), as a house whose
   * node is its messagebus does; by default the instance starts its own `ovos-messagebus`.
   */
  onExistingBus?: boolean
  /**
   * Run OVOS's skill installer (`ovos.pip.install`), offline: `skills.installer.allow_pip`, a local constraints file
   * (the venv as it is, so nothing installed can be swapped or removed) and pip kept off the network.
   */
  installer?: boolean
  logLevel?: 'DEBUG' | 'INFO' | 'WARNING'
  readyTimeoutMs?: number
}

export interface OvosConfigOptions {
  port: number
  blacklistedSkills: string[]
  logLevel: string
  /** the installer's constraints file, when it is on */
  constraints?: string
}

/**
 * Writes `<dir>/config/mycroft/mycroft.conf` (the user layer, merged over the defaults inside ovos-config).
 * Network checks point at a closed loopback port so nothing waits on the internet.
 */
export async function writeOvosConfig (dir: string, { port, blacklistedSkills, logLevel, constraints }: OvosConfigOptions): Promise<string> {
  const closed = 'http://127.0.0.1:9/'
  const config = {
    lang: 'en-US',
    websocket: { host: '127.0.0.1', port, route: '/core', ssl: false, shared_connection: true },
    network_tests: {
      ip_url: closed,
      web_url: closed,
      web_url_secondary: closed,
      captive_portal_url: closed,
      dns_primary: '127.0.0.1',
      dns_secondary: '127.0.0.1'
    },
    logs: { path: 'stdout' },
    log_level: logLevel,
    skills: {
      blacklisted_skills: ['skill-ovos-stop.openvoiceos', ...blacklistedSkills],
      ...(constraints === undefined ? {} : { installer: { allow_pip: true, constraints } })
    },
    // Only engines that are installed: the default list names padatious, OCP and common_qa, which are not.
    intents: {
      pipeline: ['stop_high', 'converse', 'padacioso_high', 'adapt_high', 'fallback_high', 'stop_medium',
        'padacioso_medium', 'adapt_medium', 'adapt_low', 'fallback_medium', 'fallback_low']
    },
    utterance_transformers: {},
    intent_transformers: {}
  }
  const file = join(dir, 'config', 'mycroft', 'mycroft.conf')
  await mkdir(join(dir, 'config', 'mycroft'), { recursive: true })
  await writeFile(file, JSON.stringify(config, null, 2))
  return file
}

/** Environment of one instance: every config, data, cache and state lookup lands in `dir`, none in ~ or /etc. */
function isolatedEnv (venv: string, dir: string): NodeJS.ProcessEnv {
  return {
    PATH: `${join(venv, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    LANG: 'C.UTF-8',
    HOME: join(dir, 'home'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_CONFIG_DIRS: join(dir, 'config'),
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_DATA_DIRS: join(dir, 'data'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    XDG_STATE_HOME: join(dir, 'state'),
    // skill settings take file locks named after the skill in the temp dir: shared between instances otherwise
    TMPDIR: join(dir, 'tmp'),
    MYCROFT_SYSTEM_CONFIG: join(dir, 'etc', 'mycroft.conf'),
    OVOS_DISTRIBUTION_CONFIG: join(dir, 'usr-share', 'mycroft.conf'),
    PYTHONUNBUFFERED: '1'
  }
}

const installedSkillsByVenv = new Map<string, Promise<string[]>>()

/** Skill ids of the skill plugins installed in the venv (entry points, read without importing any OVOS code). */
async function installedSkills (venv: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  let found = installedSkillsByVenv.get(venv)
  if (found === undefined) {
    const script = 'import json, importlib.metadata as m; ' +
      'print(json.dumps(sorted({e.name for g in ("opm.skill", "ovos.plugin.skill") for e in m.entry_points(group=g)})))'
    found = new Promise((resolve, reject) => {
      const proc = spawn(join(venv, 'bin', 'python'), ['-c', script], { env, stdio: ['ignore', 'pipe', 'inherit'] })
      let stdout = ''
      proc.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
      proc.once('exit', code => {
        if (code === 0) resolve(JSON.parse(stdout) as string[])
        else reject(new Error(`listing the skills installed in ${venv} failed (exit ${code})`))
      })
    })
    installedSkillsByVenv.set(venv, found)
  }
  return found
}


const liveGroups = new Set<number>()
process.once('exit', () => {
  for (const pid of liveGroups) {
    try { process.kill(-pid, 'SIGKILL') } catch { /* already gone */ }
  }
})

/**
 * One headless OVOS: `ovos-messagebus` and `ovos-core` from the venv, each in its own process group, with its own
 * config, data and port. `start` returns once core has loaded and trained exactly `skills` and answers utterances.
 */
export class OvosInstance {
  readonly options: OvosStartOptions
  readonly port: number
  /** Temp dir with the instance's config, data, cache and state; removed by `stop`. */
  readonly dir: string
  readonly busUrl: string
  /** Milliseconds from spawning the bus to core reporting `mycroft.skills.initialized`. */
  startupMs = 0
  private readonly procs: ChildProcess[] = []
  private output = ''
  private services?: BusProbe

  private constructor (options: OvosStartOptions, port: number, dir: string) {
    this.options = options
    this.port = port
    this.dir = dir
    this.busUrl = `ws://127.0.0.1:${port}/core`
  }

  static async start (options: OvosStartOptions): Promise<OvosInstance> {
    const dir = await mkdtemp(join(tmpdir(), `ovos-${options.name}-`))
    const instance = new OvosInstance(options, options.port ?? await freePort(), dir)
    try {
      await instance.boot()
    } catch (err) {
      await instance.stop()
      throw new Error(`OVOS instance ${options.name}: ${(err as Error).message}\n--- last log lines ---\n${instance.output.slice(-6000)}`)
    }
    return instance
  }

  /** pip off the network, and the venv as it is as the installer's constraints; returns the constraints file. */
  private async offlineInstaller (env: NodeJS.ProcessEnv): Promise<string> {
    await mkdir(join(this.dir, 'config', 'pip'), { recursive: true })
    await writeFile(join(this.dir, 'config', 'pip', 'pip.conf'), '[global]\nno-index = true\ndisable-pip-version-check = true\n')
    const frozen = await runPython(this.options.venv, ['-m', 'pip', 'freeze', '--exclude-editable'], env)
    const constraints = join(this.dir, 'constraints.txt')
    await writeFile(constraints, frozen)
    return constraints
  }

  private async boot (): Promise<void> {
    const { venv, skills, logLevel = 'INFO', readyTimeoutMs = 90_000 } = this.options
    const env = isolatedEnv(venv, this.dir)
    await Promise.all(['home', 'tmp'].map(async sub => mkdir(join(this.dir, sub))))
    const installed = await installedSkills(venv, env)
    const missing = skills.filter(skill => !installed.includes(skill))
    if (missing.length > 0) throw new Error(`skills not installed in the venv: ${missing.join(', ')} (installed: ${installed.join(', ')})`)
    const constraints = this.options.installer === true ? await this.offlineInstaller(env) : undefined
    await writeOvosConfig(this.dir, {
      port: this.port,
      blacklistedSkills: installed.filter(skill => !skills.includes(skill)),
      logLevel,
      constraints
    })

    const started = Date.now()
    const deadline = started + readyTimeoutMs
    const bus = this.options.onExistingBus === true ? [] : [this.spawn('bus', join(venv, 'bin', 'ovos-messagebus'), [], env)]
    const services = await untilExit(bus, BusProbe.connect(this.busUrl, { timeoutMs: 20_000 }))
    this.services = services
    standInForAbsentServices(services)

    // The installer would pip-install whatever a bus message asks for: not on loopback, not wanted in tests.
    // The settings file watcher announces each skill's first settings.json (ovos.skills.settings_changed) late, at
    // random points of the first utterances.
    const core = this.spawn('core', join(venv, 'bin', 'python'), ['-m', 'ovos_core', ...(this.options.installer === true ? [] : ['--disable-installer']), '--disable-file-watcher'], env)
    await untilExit([...bus, core], services.waitFor('mycroft.skills.initialized (core ready)', message => message.type === 'mycroft.skills.initialized',
      Math.max(deadline - Date.now(), 0)))
    this.startupMs = Date.now() - started

    const since = services.mark
    services.emit({ type: 'skillmanager.list' })
    const list = await services.waitFor('mycroft.skills.list', message => message.type === 'mycroft.skills.list', 5000, { since })
    const loaded = Object.entries(list.data).filter(([, state]) => (state as { active?: boolean }).active === true).map(([id]) => id).sort()
    if (loaded.join() !== [...skills].sort().join()) {
      throw new Error(`core loaded [${loaded.join(', ')}] instead of [${skills.join(', ')}]`)
    }
  }

  private spawn (label: string, command: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
    const proc = spawn(command, args, { cwd: this.dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    if (proc.pid !== undefined) liveGroups.add(proc.pid)
    proc.once('exit', () => { if (proc.pid !== undefined) liveGroups.delete(proc.pid) })
    const prefix = `[${this.options.name}/${label}] `
    let pending = ''
    const collect = (chunk: string): void => {
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) this.output += prefix + line + '\n'
    }
    proc.stdout?.setEncoding('utf8').on('data', collect)
    proc.stderr?.setEncoding('utf8').on('data', collect)
    this.procs.push(proc)
    return proc
  }

  /** Everything both processes printed so far, each line prefixed with `[name/bus]` or `[name/core]`. */
  logs (): string {
    return this.output
  }

  /** Stops core, then the bus (SIGTERM to each process group, SIGKILL after 5 s), and removes the temp dir. */
  async stop (): Promise<void> {
    await this.services?.close()
    for (const proc of [...this.procs].reverse()) await stopGroup(proc)
    await rm(this.dir, { recursive: true, force: true })
  }
}

/**
 * Answers what the services a full OVOS install runs beside core would answer, which core otherwise waits for:
 * - `mycroft.skills.train`: ovos-padatious replies `mycroft.skills.trained`; without it core waits 60 s after loading
 *   skills. Adapt and padacioso register intents as they arrive, so there is nothing to wait for.
 * - `gui.status.request`: ovos-gui replies `{connected: false}` when no GUI is attached; core waits 3 s otherwise.
 * - `ovos.PHAL.internet_check`: the connectivity PHAL plugin replies; core waits 3 s, then probes the web itself.
 * - `speak` in the default session: ovos-audio plays it and reports `recognizer_loop:audio_output_start`/`_end`; a
 *   skill that speaks with wait=True (hello-world does) blocks 15 s without the end. Speech here takes no time.
 *   Other sessions get nothing, as from ovos-audio, which plays only the default session.
 */
function standInForAbsentServices (probe: BusProbe): void {
  probe.on('mycroft.skills.train', message => { probe.reply(message, 'mycroft.skills.trained') })
  probe.on('gui.status.request', message => { probe.reply(message, 'gui.status.request.response', { connected: false }) })
  probe.on('ovos.PHAL.internet_check', message => {
    probe.reply(message, 'ovos.PHAL.internet_check.response', { internet_connected: false, network_connected: false })
  })
  probe.on('speak', message => {
    if (((message.context.session as { session_id?: string } | undefined)?.session_id ?? 'default') !== 'default') return
    probe.forward(message, 'recognizer_loop:audio_output_start')
    probe.forward(message, 'recognizer_loop:audio_output_end')
  })
}

/** `promise`, unless one of `procs` exits first. */
async function untilExit<T> (procs: ChildProcess[], promise: Promise<T>): Promise<T> {
  const cleanups: Array<() => void> = []
  const exited = new Promise<never>((_resolve, reject) => {
    for (const proc of procs) {
      const onExit = (code: number | null, signal: string | null): void => {
        reject(new Error(`${proc.spawnfile} ${proc.spawnargs.slice(1).join(' ')} exited (${signal ?? code}) during startup`))
      }
      if (proc.exitCode !== null || proc.signalCode !== null) onExit(proc.exitCode, proc.signalCode)
      proc.once('exit', onExit)
      cleanups.push(() => proc.off('exit', onExit))
    }
  })
  try {
    return await Promise.race([promise, exited])
  } finally {
    for (const cleanup of cleanups) cleanup()
  }
}

async function stopGroup (proc: ChildProcess): Promise<void> {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise(resolve => proc.once('exit', resolve))
  const signal = (name: NodeJS.Signals): void => {
    try { process.kill(-(proc.pid as number), name) } catch { /* the group is gone */ }
  }
  signal('SIGTERM')
  const timer = setTimeout(() => { signal('SIGKILL') }, 5000)
  await exited
  clearTimeout(timer)
}
