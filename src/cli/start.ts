import { resolve } from 'node:path'
import { decodeInviteToken } from '../access/index.ts'
import { ExitCode, createLogger, type UserError } from '../common/index.ts'
import { homePaths, defaultHomeDir } from '../control/index.ts'
import { MeshNode, loadConfig, type ConfigOverrides } from '../node/index.ts'

export interface StartFlags {
  home?: string
  name?: string
  listen?: string[]
  parent?: string
  bus?: string
  muxer?: Array<'yamux' | 'mplex'>
  heartbeatMs?: number
  fallback?: boolean
  fallbackPriority?: number
  classicSignals?: boolean
  safetyNetMs?: number
  askTimeoutMs?: number
  join?: string
  houseKey?: string
  hub?: boolean
  metrics?: string
  dashboard?: string
  open?: boolean
  jsonLogs?: boolean
  logLevel?: ConfigOverrides['logLevel']
}

export async function start (flags: StartFlags): Promise<void> {
  const paths = homePaths(flags.home ?? defaultHomeDir())
  const join = flags.join === undefined ? undefined : decodeInviteToken(flags.join)
  const config = await loadConfig(paths.config, {
    // a joining node takes the name its parent gave it in the invite, unless told otherwise
    name: flags.name ?? join?.name,
    listen: flags.listen,
    parent: flags.parent,
    bus: flags.bus,
    muxers: flags.muxer,
    heartbeatMs: flags.heartbeatMs,
    fallback: flags.fallback,
    fallbackPriority: flags.fallbackPriority,
    classicSignals: flags.classicSignals,
    safetyNetMs: flags.safetyNetMs,
    askTimeoutMs: flags.askTimeoutMs,
    houseKey: flags.houseKey === undefined ? undefined : resolve(flags.houseKey),
    hub: flags.hub,
    metrics: flags.metrics,
    dashboard: flags.dashboard,
    open: flags.open,
    logLevel: flags.logLevel
  })
  const log = await createLogger({ level: config.logLevel, json: flags.jsonLogs })
  process.on('unhandledRejection', err => { log.error({ err }, 'unhandled rejection (kept running)') })

  let fatal: UserError | undefined
  let requestStop: (why: string) => void = () => {}
  const stopRequested = new Promise<string>(resolve => { requestStop = resolve })
  const node = new MeshNode({ home: paths.dir, config, log, join, onFatal: err => { fatal ??= err; requestStop(err.message) } })
  await node.start()

  let stopping = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn(`second ${signal}: exiting without a clean shutdown`)
      process.exit(ExitCode.failure)
    }
    requestStop(`${signal} received`)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const why = await stopRequested
  stopping = true
  log.info(`${why}: shutting down`)
  await node.stop().catch((err: unknown) => { log.error({ err }, 'shutdown failed') })
  if (fatal !== undefined) throw fatal
}

