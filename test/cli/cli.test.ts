import { spawn } from 'node:child_process'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { CLI, Homes, NodeProcess, runCli } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'
import { fileURLToPath } from 'node:url'
import pkg from '../../package.json' with { type: 'json' }

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

const homes = new Homes()
const nodes: NodeProcess[] = []

afterEach(async () => {
  await Promise.all(nodes.splice(0).map(async node => node.kill()))
})
afterAll(async () => { await homes.cleanup() })

async function startNode (name: string, options: { home?: string, parent?: string } = {}): Promise<NodeProcess> {
  const node = new NodeProcess({ home: options.home ?? await homes.make(`mm-cli-${name}-`), name, parent: options.parent })
  nodes.push(node)
  return node.start()
}

/**
 * `runCli` for `start`, which runs until signalled when it does not fail: a start that wrongly succeeds is
 * killed at the deadline and reported as `timedOut` instead of hanging the test.
 */
async function runStart (args: string[], timeoutMs = 15_000): Promise<{ code: number | null, stdout: string, stderr: string, timedOut: boolean }> {
  const proc = spawn(process.execPath, [CLI, 'start', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let timedOut = false
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const timer = setTimeout(() => { timedOut = true; proc.kill('SIGKILL') }, timeoutMs)
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  clearTimeout(timer)
  return { code, stdout, stderr, timedOut }
}

const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0', '--bus', 'none']

describe('mycroft-mesh id', () => {
  it('prints the peer id alone on one line, and the same one every time', async () => {
    const home = await homes.make('mm-cli-id-')
    const first = await runCli(['id', '--home', home])
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}\n$/)
    const second = await runCli(['id', '--home', home])
    expect(second.code).toBe(0)
    expect(second.stdout).toBe(first.stdout)
    expect((await stat(join(home, 'identity.key'))).mode & 0o777).toBe(0o600)
  })

  it('uses $MYCROFT_MESH_HOME when no --home is given', async () => {
    const home = await homes.make('mm-cli-env-')
    const viaEnv = await runCli(['id'], { ...process.env, MYCROFT_MESH_HOME: home })
    const viaFlag = await runCli(['id', '--home', home])
    expect(viaEnv.code).toBe(0)
    expect(viaEnv.stdout).toBe(viaFlag.stdout)
  })

  it('gives a different id for a different home', async () => {
    const [a, b] = await Promise.all([homes.make(), homes.make()].map(async home => runCli(['id', '--home', await home])))
    expect(a?.stdout).not.toBe(b?.stdout)
  })

  it('refuses an unreadable identity key with exit 1 and says what to do, leaving the key in place', async () => {
    const home = await homes.make('mm-cli-badkey-')
    await writeFile(join(home, 'identity.key'), 'not a key')
    const result = await runCli(['id', '--home', home])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/identity key .*identity\.key is unreadable/)
    expect(result.stderr).toMatch(/restore it from a backup, or move it away/)
    expect(await readFile(join(home, 'identity.key'), 'utf8')).toBe('not a key')
  })

  it('tightens a key others can read to 0600', async () => {
    const home = await homes.make('mm-cli-mode-')
    const created = await runCli(['id', '--home', home])
    await chmod(join(home, 'identity.key'), 0o644)
    const again = await runCli(['id', '--home', home])
    expect(again.stdout).toBe(created.stdout)
    expect((await stat(join(home, 'identity.key'))).mode & 0o777).toBe(0o600)
  })
})

describe('mycroft-mesh status', () => {
  it('exits 3 with a message for a home where no node runs', async () => {
    const home = await homes.make('mm-cli-idle-')
    const result = await runCli(['status', '--home', home])
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain(`no node is running for home ${home}`)
    expect(result.stderr).toContain(`mycroft-mesh start --home ${home}`)
    expect((await runCli(['status', '--home', home, '--json'])).code).toBe(3)
  })

  it('exits 3 after the node was killed and left its socket behind, and a new start takes the home over', async () => {
    const node = await startNode('crashy')
    const peerId = (await node.status()).peerId
    await node.kill()
    await expect(stat(join(node.home, 'control.sock'))).resolves.toBeDefined()
    const result = await runCli(['status', '--home', node.home])
    expect(result.code).toBe(3)
    expect(result.stderr).toContain('no node is running')

    const restarted = await startNode('crashy', { home: node.home })
    const status = await runCli(['status', '--home', node.home, '--json'])
    expect(status.code).toBe(0)
    expect((JSON.parse(status.stdout) as { peerId: string }).peerId).toBe(peerId)
    expect((await restarted.status()).peerId).toBe(peerId)
  })
})

describe('mycroft-mesh start with bad flags or config', () => {
  it.concurrent.for<[string, string[], RegExp]>([
    ['--listen garbage', ['--listen', 'garbage'], /--listen: not a multiaddr/],
    ['--parent that is not a multiaddr', ['--parent', '192.168.1.20:4773'], /--parent: not a multiaddr/],
    ['--bus with an unknown spec', ['--bus', 'sometimes'], /--bus: expected auto, none/],
    ['--heartbeat-ms that is not a number', ['--heartbeat-ms', 'soon'], /--heartbeat-ms: expected a whole number, got 'soon'/],
    ['--heartbeat-ms below the minimum', ['--heartbeat-ms', '1'], /--heartbeat-ms: /],
    ['--muxer with an unknown muxer', ['--muxer', 'quic'], /option '--muxer <name>' argument 'quic' is invalid\. Allowed choices are yamux, mplex\./],
    ['--log-level with an unknown level', ['--log-level', 'loud'], /--log-level/],
    ['an unknown flag', ['--colour', 'blue'], /unknown option '--colour'/]
  ])('exits 2 for %s, naming the flag', async ([_label, args, message], { expect }) => {
    const home = await homes.make('mm-cli-flag-')
    const result = await runStart(['--home', home, ...LOOPBACK, ...args])
    expect(result.timedOut).toBe(false)
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
  })

  it.concurrent.for<[string, string, RegExp]>([
    ['a listen address that is not a multiaddr', '{ "listen": ["0.0.0.0:4773"] }', /field 'listen\.0': not a multiaddr/],
    ['a heartbeat given as text', '{ "heartbeatMs": "fast" }', /field 'heartbeatMs'/],
    ['an unknown field', '{ "name": "hub", "colour": "blue" }', /unknown field 'colour'/],
    ['invalid JSON', '{ "name": "hub", }', /is not valid JSON/]
  ])('exits 2 for a config.json with %s, naming the field and the file', async ([_label, content, message], { expect }) => {
    const home = await homes.make('mm-cli-config-')
    await writeFile(join(home, 'config.json'), content)
    const result = await runStart(['--home', home, ...LOOPBACK])
    expect(result.timedOut).toBe(false)
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
    expect(result.stderr).toContain(join(home, 'config.json'))
  })

  it('refuses a bad config file even when every flag is good', async () => {
    const home = await homes.make('mm-cli-config-')
    await writeFile(join(home, 'config.json'), '{ "parent": "nowhere" }')
    const result = await runStart(['--home', home, ...LOOPBACK, '--name', 'fine'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/field 'parent'/)
  })
})

describe('mycroft-mesh --help', () => {
  it.concurrent.for<[string[], string, string]>([
    [[], 'Usage: mycroft-mesh [options] [command]', 'status [options]'],
    [['start'], 'Usage: mycroft-mesh start [options]', '--parent <multiaddr>'],
    [['id'], 'Usage: mycroft-mesh id [options]', '--home <dir>'],
    [['status'], 'Usage: mycroft-mesh status [options]', '--json']
  ])('%j --help exits 0 and prints usage', async ([command, usage, mentions], { expect }) => {
    const result = await runCli([...command, '--help'])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain(usage)
    expect(result.stdout).toContain(mentions)
  })

  it('--version prints the package version', async () => {
    const result = await runCli(['--version'])
    expect(result.code).toBe(0)
    expect(result.stdout.trim()).toBe(pkg.version)
  })

  it('an unknown command exits 2', async () => {
    const result = await runCli(['strat'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("unknown command 'strat'")
  })
})

describe('mycroft-mesh start, running', () => {
  it('refuses a second start on a home whose node is running, and leaves the first one alone', async () => {
    const first = await startNode('only')
    const before = await first.status()
    const second = await runStart(['--home', first.home, ...LOOPBACK])
    expect(second.timedOut).toBe(false)
    expect(second.code).not.toBe(0)
    expect(second.stderr).toMatch(/a node is already running for home/)
    const after = await first.status()
    expect(after.peerId).toBe(before.peerId)
    expect(after.addrs).toEqual(before.addrs)
    expect(after.startedAt).toBe(before.startedAt)
  })

  it('exits 1 saying the port is taken when another node holds the listen port', async () => {
    const holder = await startNode('holder')
    const listen = (await holder.addr()).replace(/\/p2p\/.*$/, '')
    const home = await homes.make('mm-cli-port-')
    const result = await runStart(['--home', home, '--listen', listen, '--bus', 'none'])
    expect(result.timedOut).toBe(false)
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/cannot listen on .*the port is taken by another program/)
    // the failed node released its home: status says nothing runs there
    expect((await runCli(['status', '--home', home])).code).toBe(3)
  })

  it('exits 0 on SIGTERM after saying goodbye to its parent, and releases its home', async () => {
    const parent = await startNode('parent')
    const child = await startNode('child', { parent: await parent.addr() })
    await waitFor('the child to link', async () => (await child.status()).parent.state === 'linked')
    const childId = (await child.status()).peerId

    expect(await child.stop()).toBe(0)
    expect(child.logs.some(line => /SIGTERM received/.test(line.msg))).toBe(true)
    expect(child.logs.some(line => line.msg === 'node stopped')).toBe(true)
    // the parent heard the goodbye, rather than waiting for missed heartbeats
    const unlinked = await parent.waitForLog('the parent to drop the child', line => line.msg === 'child child unlinked')
    expect(String(unlinked.reason)).toMatch(/said goodbye/)
    expect(unlinked.peer).toBe(childId)
    expect((await parent.status()).children).toEqual([])
    // nothing answers for the child's home any more
    expect((await runCli(['status', '--home', child.home])).code).toBe(3)

    expect(await parent.stop()).toBe(0)
  })

  it('refuses to start on a messagebus another mesh node bridges, saying who and how to fix it; exits 1', async () => {
    const brain = new NodeProcess({ home: await homes.make('mm-cli-brain-'), name: 'brain', bus: 'embedded:0' })
    nodes.push(brain)
    await brain.start()
    const url = (await brain.status()).bus.url ?? ''
    const kitchen = await runStart(['--home', await homes.make('mm-cli-kitchen-'), '--listen', '/ip4/127.0.0.1/tcp/0', '--bus', url])
    expect(kitchen.timedOut).toBe(false)
    expect(kitchen.code).toBe(1)
    expect(kitchen.stderr).toContain(`another mesh node, brain (${(await brain.status()).peerId}), already bridges the messagebus at ${url}`)
    expect(kitchen.stderr).toContain('--bus embedded:PORT')
    // the brain's own bus is untouched: still one client, the brain itself
    expect((await brain.status()).bus).toMatchObject({ state: 'connected', clients: 1 })
  })

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`\`npm start\` stops the node on ${signal} sent to npm, as a supervisor sends it, and frees its ports`, async () => {
      const home = await homes.make('mm-cli-npm-')
      const npm = spawn('npm', ['start', '--silent', '--', '--home', home, ...LOOPBACK, '--json-logs'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      npm.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
      let nodePid: number | undefined
      try {
        await waitFor(`the node under npm to answer status (stderr: ${stderr.slice(-300)})`, async () => {
          const status = await runCli(['status', '--home', home, '--json'])
          if (status.code === 0) nodePid = (JSON.parse(status.stdout) as { process: { pid: number } }).process.pid
          return status.code === 0
        }, { timeoutMs: 20_000 })
        npm.kill(signal)
        await waitFor('npm to exit', () => npm.exitCode !== null || npm.signalCode !== null, { timeoutMs: 10_000 })
        await waitFor('the node to stop and let go of its home', async () => (await runCli(['status', '--home', home])).code === 3, { timeoutMs: 10_000 })
        expect(stderr).toMatch(new RegExp(`${signal} received: shutting down`))
      } finally {
        npm.kill('SIGKILL')
        // a node that outlived npm must not outlive the test
        if (nodePid !== undefined) {
          try {
            process.kill(nodePid, 'SIGKILL')
          } catch {
            // gone already, as it should be
          }
        }
      }
    })
  }
})

