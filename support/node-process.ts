import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { queryControl, homePaths } from '../src/control/index.ts'
import type { NodeConfig, NodeStatus } from '../src/node/index.ts'
import type { AccessFigures } from '../src/access/index.ts'
import type { BusBridgeFigures } from '../src/bus-bridge/index.ts'
import type { AskFigures, BusDeliveryFigures, LinkFigures } from '../src/routing/index.ts'
import { waitFor } from './wait.ts'

export const CLI = fileURLToPath(new URL('../bin/mycroft-mesh.js', import.meta.url))

/** `status --json` as tests and benchmarks read it: the sections they look into, typed by the faces that fill them. */
export type MeshStatus = NodeStatus & {
  asks: AskFigures
  link: LinkFigures
  access: AccessFigures
  bus: BusBridgeFigures & BusDeliveryFigures
}

export interface LogLine {
  level: number
  msg: string
  [key: string]: unknown
}

export interface NodeProcessOptions {
  home: string
  name: string
  listen?: string
  parent?: string
  muxers?: Array<'yamux' | 'mplex'>
  heartbeatMs?: number
  /** `none` unless given */
  bus?: string
  /** lab mode (any peer may link without an invite); on unless false */
  open?: boolean
  /** written to the home's config.json before the start, over the test defaults */
  config?: Partial<NodeConfig>
  extraArgs?: string[]
  /** run inside this network namespace (`ip netns exec`); the control socket is a file, reached from anywhere */
  netns?: string
  /** start as a user's plain `start --home DIR` would: only --home, --json-logs and extraArgs (name is then only a label) */
  plain?: boolean
}

/** A real `mycroft-mesh start` process with JSON logs, on loopback. */
export class NodeProcess {
  readonly options: NodeProcessOptions
  readonly logs: LogLine[] = []
  stderr = ''
  private readonly logListeners: Array<(line: LogLine) => void> = []
  private proc?: ChildProcess
  private exited?: Promise<number | null>

  constructor (options: NodeProcessOptions) {
    this.options = options
  }

  get home (): string {
    return this.options.home
  }

  /** The node's process id while it runs (undefined before the start). */
  get pid (): number | undefined {
    return this.proc?.pid
  }

  async start (): Promise<this> {
    const { home, name, listen = '/ip4/127.0.0.1/tcp/0', parent, muxers = [], heartbeatMs = 500, bus = 'none', open = true, extraArgs = [] } = this.options
    const args = this.options.plain === true
      ? [CLI, 'start', '--home', home, '--json-logs']
      : [CLI, 'start', '--home', home, '--name', name, '--listen', listen, '--json-logs', '--heartbeat-ms', String(heartbeatMs), '--bus', bus]
    if (open && this.options.plain !== true) args.push('--open')
    // every test peer connects from 127.0.0.1, so the per-address burst limit is a hub's, not a house's
    await mkdir(home, { recursive: true, mode: 0o700 })
    const configPath = join(home, 'config.json')
    const existing = await readFile(configPath, 'utf8').then(text => JSON.parse(text) as object, () => ({}))
    // and no node of a test sends mDNS on this machine's own network unless the test made that network
    await writeFile(configPath, JSON.stringify({ maxInboundPerIpPerSecond: 1_000, mdns: false, ...existing, ...this.options.config }))
    if (parent !== undefined) args.push('--parent', parent)
    for (const muxer of muxers) args.push('--muxer', muxer)
    args.push(...extraArgs)
    const { netns } = this.options
    const proc = netns === undefined
      ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('ip', ['netns', 'exec', netns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.proc = proc
    this.exited = new Promise(resolve => proc.once('exit', code => { resolve(code) }))
    let pending = ''
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        let entry: LogLine
        try {
          entry = JSON.parse(line) as LogLine
        } catch {
          continue // not a log line: kept in stderr for the failure message
        }
        this.logs.push(entry)
        for (const listener of this.logListeners) listener(entry)
      }
    })
    await waitFor(`${name} to listen (stderr: ${this.stderr.slice(-500)})`, async () => {
      if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}: ${this.stderr}`)
      // the log line, or (when the log level hides it) a status answer from this very process
      return this.logs.some(line => line.msg.endsWith('listening')) || (await this.status()).process.pid === proc.pid
    }, { timeoutMs: 20_000 })
    return this
  }

  onLog (listener: (line: LogLine) => void): void {
    this.logListeners.push(listener)
  }

  async status (): Promise<MeshStatus> {
    const paths = homePaths(this.home)
    return await queryControl(paths.controlSocket, paths.dir, '/status') as MeshStatus
  }

  /** The address children dial: the first listen address, with the peer id. */
  async addr (): Promise<string> {
    const status = await this.status()
    const addr = status.addrs[0]
    if (addr === undefined) throw new Error(`${this.options.name} has no address`)
    return addr
  }

  async waitForLog (what: string, match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    return waitFor(what, () => this.logs.find(match), { timeoutMs })
  }

  /** SIGTERM and wait for the clean exit code. */
  async stop (): Promise<number | null> {
    if (this.proc === undefined || this.proc.exitCode !== null) return this.proc?.exitCode ?? null
    this.proc.kill('SIGTERM')
    return this.exited ?? null
  }

  /** SIGKILL: no goodbye, no cleanup, as a crash or a pulled plug. */
  async kill (): Promise<void> {
    if (this.proc === undefined || this.proc.exitCode !== null) return
    this.proc.kill('SIGKILL')
    await this.exited
  }
}

/** Temporary homes that are removed after the test file. */
export class Homes {
  private readonly dirs: string[] = []

  async make (prefix = 'mm-'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix))
    this.dirs.push(dir)
    return dir
  }

  async cleanup (): Promise<void> {
    await Promise.all(this.dirs.map(async dir => rm(dir, { recursive: true, force: true })))
  }
}

export async function runCli (args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
  let stdout = ''
  let stderr = ''
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  return { code, stdout, stderr }
}
