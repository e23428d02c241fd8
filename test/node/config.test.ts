import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, ExitCode } from '../../src/common/index.ts'
import { defaultConfig, loadConfig, type ConfigOverrides } from '../../src/node/index.ts'

let dir: string
let counter = 0

beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'mm-config-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

async function configFile (content: unknown): Promise<string> {
  const path = join(dir, `config-${counter++}.json`)
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content))
  return path
}

async function configError (path: string, flags: ConfigOverrides = {}): Promise<ConfigError> {
  const err: unknown = await loadConfig(path, flags).then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(ConfigError)
  expect((err as ConfigError).exitCode).toBe(ExitCode.usage)
  return err as ConfigError
}

const PARENT = '/ip4/192.168.1.20/tcp/4773/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'

describe('loadConfig', () => {
  it('gives the documented defaults when there is no config file', async () => {
    const config = await loadConfig(join(dir, 'absent.json'))
    expect(config).toEqual(defaultConfig())
    expect(config).toMatchObject({
      listen: ['/ip4/0.0.0.0/tcp/4773'],
      parent: null,
      bus: 'auto',
      muxers: ['yamux', 'mplex'],
      heartbeatMs: 5_000,
      missedBeats: 2,
      reconnect: { initialMs: 250, maxMs: 3_000 },
      logLevel: 'info'
    })
    expect(config.name.length).toBeGreaterThan(0)
  })

  it('takes every field of the README example file', async () => {
    const file = {
      name: 'kitchen',
      listen: ['/ip4/0.0.0.0/tcp/4773'],
      parent: PARENT,
      bus: 'auto',
      muxers: ['yamux', 'mplex'],
      heartbeatMs: 5000,
      missedBeats: 2,
      reconnect: { initialMs: 250, maxMs: 3000 },
      logLevel: 'info'
    }
    expect(await loadConfig(await configFile(file))).toMatchObject(file)
  })

  it('fills fields the file leaves out from the defaults', async () => {
    const config = await loadConfig(await configFile({ name: 'hub', heartbeatMs: 1_000 }))
    expect(config).toEqual({ ...defaultConfig(), name: 'hub', heartbeatMs: 1_000 })
  })

  it('lets flags override the file, field by field', async () => {
    const path = await configFile({ name: 'from-file', listen: ['/ip4/127.0.0.1/tcp/4801'], heartbeatMs: 2_000, bus: 'none' })
    const config = await loadConfig(path, { name: 'from-flag', listen: ['/ip4/127.0.0.1/tcp/4900', '/ip6/::1/tcp/4900'], parent: PARENT, heartbeatMs: undefined })
    expect(config.name).toBe('from-flag')
    expect(config.listen).toEqual(['/ip4/127.0.0.1/tcp/4900', '/ip6/::1/tcp/4900'])
    expect(config.parent).toBe(PARENT)
    // an undefined flag (not given on the command line) leaves the file's value
    expect(config.heartbeatMs).toBe(2_000)
    expect(config.bus).toBe('none')
  })

  it.each<[string, unknown, string]>([
    ['a listen address that is not a multiaddr', { listen: ['0.0.0.0:4773'] }, "field 'listen.0'"],
    ['a second listen address that is not a multiaddr', { listen: ['/ip4/127.0.0.1/tcp/1', 'garbage'] }, "field 'listen.1'"],
    ['an empty listen list', { listen: [] }, "field 'listen'"],
    ['a parent that is not a multiaddr', { parent: 'kitchen.local:4773' }, "field 'parent'"],
    ['a heartbeat given as text', { heartbeatMs: '5000' }, "field 'heartbeatMs'"],
    ['a heartbeat below the minimum', { heartbeatMs: 5 }, "field 'heartbeatMs'"],
    ['an unknown muxer', { muxers: ['yamux', 'quic'] }, "field 'muxers.1'"],
    ['a bad bus spec', { bus: 'http://localhost:8181' }, "field 'bus'"],
    ['a bad nested reconnect value', { reconnect: { initialMs: 250, maxMs: -1 } }, "field 'reconnect.maxMs'"],
    ['an unknown log level', { logLevel: 'verbose' }, "field 'logLevel'"],
    ['an empty name', { name: '   ' }, "field 'name'"]
  ])('refuses %s, naming the field and the file', async (_label, content, field) => {
    const path = await configFile(content)
    const err = await configError(path)
    expect(err.message).toContain(field)
    expect(err.message).toContain(path)
  })

  it('says what a multiaddr looks like when a listen address is wrong', async () => {
    const err = await configError(await configFile({ listen: ['localhost:4773'] }))
    expect(err.message).toMatch(/not a multiaddr \(example: \/ip4\//)
  })

  it('names an unknown field and says to remove it', async () => {
    const err = await configError(await configFile({ name: 'hub', colour: 'blue' }))
    expect(err.message).toMatch(/unknown field 'colour'; remove it or check its spelling/)
  })

  it('names an unknown field inside a nested object by its full path', async () => {
    const err = await configError(await configFile({ reconnect: { initialMs: 250, maxMs: 3000, jitter: true } }))
    expect(err.message).toMatch(/unknown field 'reconnect\.jitter'/)
  })

  it('names a misspelt field', async () => {
    const err = await configError(await configFile({ heartbeat_ms: 1000 }))
    expect(err.message).toContain("'heartbeat_ms'")
  })

  it('says when the file is not valid JSON, naming the file', async () => {
    const path = await configFile('{ "name": "hub", }')
    const err = await configError(path)
    expect(err.message).toContain(`config file ${path} is not valid JSON`)
  })

  it('says when the file is JSON but not an object', async () => {
    const err = await configError(await configFile('["name", "hub"]'))
    expect(err.message).toMatch(/^config file .*: must be one JSON object of fields, such as \{ "name": "kitchen" \}; expected object, received array$/)
  })

  it('refuses a reconnect cap below the initial delay, naming both fields', async () => {
    const err = await configError(await configFile({ reconnect: { initialMs: 5_000, maxMs: 1_000 } }))
    expect(err.message).toContain('reconnect.maxMs')
    expect(err.message).toContain('reconnect.initialMs')
  })

  it('says when the config file cannot be read', async () => {
    const path = join(dir, 'a-directory.json')
    await mkdir(path)
    const err = await configError(path)
    expect(err.message).toContain(`cannot read the config file ${path}`)
  })

  // root reads any file, whatever its mode
  it.skipIf(process.getuid?.() === 0)('says when the config file is not readable by this user', async () => {
    const path = await configFile({ name: 'secret' })
    await chmod(path, 0o000)
    const err = await configError(path)
    expect(err.message).toContain(`cannot read the config file ${path}`)
  })

  it.each<[string, ConfigOverrides, string]>([
    ['--parent', { parent: 'not-an-address' }, '--parent'],
    ['--listen', { listen: ['garbage'] }, '--listen'],
    ['--bus', { bus: 'sometimes' }, '--bus'],
    ['--heartbeat-ms', { heartbeatMs: 1 }, '--heartbeat-ms'],
    ['--name', { name: '' }, '--name']
  ])('names the flag %s when its value is bad', async (_label, flags, flag) => {
    const err = await configError(join(dir, 'absent.json'), flags)
    expect(err.message).toMatch(new RegExp(`^flag: ${flag.replace(/-/g, '\\-')}: `))
  })

  it('checks the flags even when the file is fine, and blames the flag rather than the file', async () => {
    const path = await configFile({ parent: PARENT })
    const err = await configError(path, { parent: '192.168.1.20' })
    expect(err.message).toContain('--parent')
    expect(err.message).not.toContain(path)
  })
})
