import { readFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { multiaddr } from '@multiformats/multiaddr'
import * as z from 'zod'
import { DEFAULT_CATCH_ALL_FALLBACKS, DEFAULT_DELIVERED_TYPES, DEFAULT_FALLBACK_PRIORITY, DEFAULT_SAFETY_NET_MS, DEFAULT_SKILL_ID } from '../bus-bridge/index.ts'
import { parseCidr } from '../access/index.ts'
import { ConfigError, writeFileAtomic } from '../common/index.ts'
import { DEFAULT_FILE_LIMITS } from '../files/index.ts'
import { ASK_DEADLINE_MS, DEFAULT_MAIL_LIMITS, MAX_ASKS_IN_FLIGHT_PER_CHILD, MAX_MAIL_TTL_MS, NodeNameSchema } from '../routing/index.ts'

export const DEFAULT_PORT = 4773
export const DEFAULT_LISTEN = [`/ip4/0.0.0.0/tcp/${DEFAULT_PORT}`]

const multiaddrText = z.string().refine(text => {
  try {
    multiaddr(text)
    return text.startsWith('/')
  } catch {
    return false
  }
}, { message: 'not a multiaddr (example: /ip4/192.168.1.20/tcp/4773)' })

/** `auto`, `none`, `embedded`, `embedded:PORT` or a ws:// URL; the bridge that uses it reads it again. */
const busText = z.string().refine(text =>
  text === 'auto' || text === 'none' || /^embedded(:\d{1,5})?$/.test(text) || /^wss?:\/\/\S+$/.test(text),
{ message: 'expected auto, none, embedded, embedded:PORT or a ws:// URL' })

const cidrText = z.string().refine(text => parseCidr(text) !== undefined, { message: 'not an IP address or CIDR (example: 192.168.1.0/24)' })

/** Where a local HTTP endpoint listens; `hostAndPort` reads it. */
const hostPortText = (example: string): z.ZodString => z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, `expected HOST:PORT, such as ${example}`)

/** A HOST:PORT the config took, as the parts a server listens on (brackets off an IPv6 host). */
export function hostAndPort (text: string): { host: string, port: number } {
  const at = text.lastIndexOf(':')
  return { host: text.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(text.slice(at + 1)) }
}

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])

/** The config file (`config.json` in the home) and the command-line flags share this shape. */
export const ConfigSchema = z.object({
  name: NodeNameSchema,
  listen: z.array(multiaddrText).min(1),
  parent: multiaddrText.nullable(),
  bus: busText,
  muxers: z.array(z.enum(['yamux', 'mplex'])).min(1),
  heartbeatMs: z.number().int().min(100).max(600_000),
  missedBeats: z.number().int().min(1).max(100),
  reconnect: z.object({
    initialMs: z.number().int().min(10).max(600_000),
    maxMs: z.number().int().min(10).max(3_600_000)
  }).strict(),
  logLevel,
  /** the OVOS fallback skill id the bridge registers as */
  skillId: z.string().min(1).max(128).regex(/^[\w.-]+$/, 'letters, digits, dots, dashes and underscores only'),
  fallback: z.boolean(),
  fallbackPriority: z.number().int().min(0).max(101),
  classicSignals: z.boolean(),
  /** ask the mesh when nothing handled an utterance for this long; 0 turns it off */
  safetyNetMs: z.number().int().min(0).max(600_000),
  askTimeoutMs: z.number().int().min(500).max(3_600_000),
  /** questions one child may have in flight here before more are answered `busy` */
  maxAsksInFlightPerChild: z.number().int().min(1).max(10_000),
  /** left out of children's sessions, so an unknown question reaches the mesh instead of "I don't know" */
  catchAllFallbacks: z.array(z.string().max(128)).max(32),
  /**
   * message types that cross a link later, addressed by `context.destination`: a local skill's to a linked node,
   * and the parent's to this node's bus (the answers this node takes to the requests it forwards)
   */
  deliveredTypes: z.array(z.string().min(1).max(128)).max(64),
  /** message types of local skills' requests carried to the parent (or to the node `context.mesh.to` names), with their files */
  forwardTypes: z.array(z.string().min(1).max(128)).max(64),
  /** message types any child may send for this node's skills to answer: what a computational server serves */
  servedTypes: z.array(z.string().min(1).max(128)).max(64),
  /** folders whose files may travel with a message; a message naming a file elsewhere is refused */
  shareDirs: z.array(z.string().min(1).max(4_096)).max(64),
  /** the files this node takes from others: the largest, one peer's share of the disk, how long a partial one waits */
  files: z.object({
    maxFileBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    perPeerBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    partialTtlMs: z.number().int().min(1_000).max(30 * 24 * 3600_000)
  }).strict(),
  /** lab mode: any peer that knows the address may link as a child, no invite needed */
  open: z.boolean(),
  /** if not empty, only these addresses may connect at all */
  ipAllow: z.array(cidrText).max(1_024),
  ipDeny: z.array(cidrText).max(1_024),
  /** a house key file (`mycroft-mesh house-key`): only nodes holding the same key can connect */
  houseKey: z.string().min(1).nullable(),
  /** with a house key: this node is the house's hub, announced on the LAN, and admits every holder of the key as a room */
  hub: z.boolean(),
  /** with a house key: find the house's hub on the LAN by mDNS (and, on the hub, be found) */
  mdns: z.boolean(),
  maxConnections: z.number().int().min(1).max(100_000),
  /** new inbound connections per second from one address before more are refused */
  maxInboundPerIpPerSecond: z.number().int().min(1).max(100_000),
  /** serve Prometheus metrics at http://HOST:PORT/metrics; null: no metrics endpoint */
  metrics: hostPortText('127.0.0.1:9477').nullable(),
  /** serve the live page at http://HOST:PORT/ from the start (`mycroft-mesh dashboard` starts it on demand); null: on demand only */
  dashboard: hostPortText('127.0.0.1:9478').nullable(),
  /** the rest of the house may always send this node messages; false: only the rooms on its friend list */
  housematesAreFriends: z.boolean(),
  /** messages kept for rooms of the house that are away: how many, how big, how long */
  mail: z.object({
    perRoom: z.number().int().min(0).max(100_000),
    total: z.number().int().min(0).max(1_000_000),
    bytes: z.number().int().min(0).max(1024 * 1024 * 1024),
    ttlMs: z.number().int().min(1_000).max(MAX_MAIL_TTL_MS)
  }).strict()
}).strict()

export type NodeConfig = z.infer<typeof ConfigSchema>
export type ConfigOverrides = Partial<NodeConfig>

export function defaultConfig (): NodeConfig {
  return {
    name: hostname().split('.')[0] ?? 'mycroft',
    listen: DEFAULT_LISTEN,
    parent: null,
    bus: 'auto',
    muxers: ['yamux', 'mplex'],
    heartbeatMs: 5_000,
    missedBeats: 2,
    reconnect: { initialMs: 250, maxMs: 3_000 },
    logLevel: 'info',
    skillId: DEFAULT_SKILL_ID,
    fallback: true,
    fallbackPriority: DEFAULT_FALLBACK_PRIORITY,
    classicSignals: true,
    safetyNetMs: DEFAULT_SAFETY_NET_MS,
    askTimeoutMs: ASK_DEADLINE_MS,
    maxAsksInFlightPerChild: MAX_ASKS_IN_FLIGHT_PER_CHILD,
    catchAllFallbacks: DEFAULT_CATCH_ALL_FALLBACKS,
    deliveredTypes: DEFAULT_DELIVERED_TYPES,
    forwardTypes: [],
    servedTypes: [],
    shareDirs: [],
    files: DEFAULT_FILE_LIMITS,
    open: false,
    ipAllow: [],
    ipDeny: [],
    houseKey: null,
    hub: false,
    mdns: true,
    maxConnections: 4_096,
    maxInboundPerIpPerSecond: 20,
    metrics: null,
    dashboard: null,
    housematesAreFriends: true,
    mail: DEFAULT_MAIL_LIMITS
  }
}

function describeIssue (source: string, error: z.ZodError, nameOf: (path: PropertyKey[]) => string): ConfigError {
  const issue = error.issues[0]
  if (issue === undefined) return new ConfigError(`${source}: invalid`)
  if (issue.code === 'unrecognized_keys') {
    return new ConfigError(`${source}: unknown ${issue.keys.map(key => nameOf([...issue.path, key])).join(', ')}; remove it or check its spelling`)
  }
  if (issue.path.length === 0) return new ConfigError(`${source}: must be one JSON object of fields, such as { "name": "kitchen" }; ${issue.message.replace(/^Invalid input: /, '')}`)
  return new ConfigError(`${source}: ${nameOf(issue.path)}: ${issue.message}`)
}

const fieldName = (path: PropertyKey[]): string => `field '${path.map(String).join('.')}'`
/** The command line repeats `--muxer` where the file has `muxers`; the other flags are the fields in kebab case. */
const flagFields: Record<string, string> = { muxers: 'muxer' }
const flagName = (path: PropertyKey[]): string => {
  const field = String(path[0])
  return `--${flagFields[field] ?? field.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)}`
}

/** Reads the home's config file (absent means defaults), then lays the flags over it. */
export async function loadConfig (path: string, flags: ConfigOverrides = {}): Promise<NodeConfig> {
  let fromFile: ConfigOverrides = {}
  let text: string | undefined
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`cannot read the config file ${path}: ${(err as Error).message}`)
  }
  if (text !== undefined) {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (err) {
      throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`)
    }
    const parsed = ConfigSchema.partial().safeParse(json)
    if (!parsed.success) throw describeIssue(`config file ${path}`, parsed.error, fieldName)
    fromFile = parsed.data
  }

  const definedFlags = Object.fromEntries(Object.entries(flags).filter(([, value]) => value !== undefined))
  const parsedFlags = ConfigSchema.partial().safeParse(definedFlags)
  if (!parsedFlags.success) throw describeIssue('flag', parsedFlags.error, flagName)

  const config = { ...defaultConfig(), ...fromFile, ...parsedFlags.data }
  if (config.reconnect.maxMs < config.reconnect.initialMs) {
    throw new ConfigError(`config: reconnect.maxMs (${config.reconnect.maxMs}) is below reconnect.initialMs (${config.reconnect.initialMs})`)
  }
  return config
}

/**
 * Records what a joined node is in the home's config file — its parent, and the name, listen addresses and bus it
 * joined with — keeping every other field, so that a plain `start` comes back as the same node and re-links.
 */
export async function saveJoined (path: string, joined: Pick<NodeConfig, 'parent' | 'name' | 'listen' | 'bus'>): Promise<void> {
  let current: Record<string, unknown> = {}
  try {
    current = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await writeFileAtomic(path, `${JSON.stringify({ ...current, ...joined }, null, 2)}\n`, 0o600)
}
