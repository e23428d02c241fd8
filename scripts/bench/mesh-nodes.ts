/**
 * Many real mesh nodes (MeshNode, each its own home, identity and libp2p node) in one process, for benchmarks
 * that need a tree bigger than one process per node allows on this machine.
 *
 *   node scripts/bench/mesh-nodes.ts SPEC.json
 *
 * SPEC: {"nodes": [{"name", "home", "parent": MULTIADDR|null, "pin": SHA256|null}]}. Every node listens on loopback,
 * has no bus, and admits any child (lab mode). One JSON object per line on stdout:
 *   {"event":"started","name":…,"addr":…}     {"event":"linked","name":…}     {"event":"installed","name":…,"at":ms}
 * (a node counts as installed once it recorded its first install)
 *   {"event":"rss","bytes":…}   (after every node started, and when stdin says `rss`)
 * The nodes stop when stdin closes.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import { defaultConfig, MeshNode } from '../../src/node/index.ts'

interface Spec { nodes: Array<{ name: string, home: string, parent: string | null, pin: string | null }> }

const spec = JSON.parse(await readFile(process.argv[2] ?? '', 'utf8')) as Spec
const say = (event: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify(event)}\n`) }
const log = pino({ level: 'warn' }, pino.destination({ fd: 2, sync: true }))

const nodes: Array<{ name: string, home: string, node: MeshNode, linked: boolean, installed: boolean }> = []
for (const { name, home, parent, pin } of spec.nodes) {
  if (pin !== null) {
    await mkdir(join(home, 'skills'), { recursive: true })
    await writeFile(join(home, 'skills', 'pinned-root'), `${pin}\n`)
  }
  const config = { ...defaultConfig(), name, listen: ['/ip4/127.0.0.1/tcp/0'], parent, bus: 'none', open: true, mdns: false, logLevel: 'warn' as const, maxInboundPerIpPerSecond: 10_000 }
  const node = new MeshNode({ home, config, log })
  await node.start()
  nodes.push({ name, home, node, linked: parent === null, installed: false })
  say({ event: 'started', name, addr: node.addrs[0] ?? '' })
}
say({ event: 'rss', bytes: process.memoryUsage.rss() })

// light enough not to be what is measured: a node's status is read only until it linked, and an install is seen
// by the record it writes (whose modification time is when it happened)
const watch = setInterval(() => {
  for (const entry of nodes) {
    if (!entry.linked && entry.node.status().parent.state === 'linked') {
      entry.linked = true
      say({ event: 'linked', name: entry.name })
    }
    if (entry.installed) continue
    void stat(join(entry.home, 'skills', 'installed', 'installed.json')).then(record => {
      if (entry.installed) return
      entry.installed = true
      say({ event: 'installed', name: entry.name, at: record.mtimeMs })
    }, () => {})
  }
}, 100)

process.stdin.setEncoding('utf8').on('data', (text: string) => { if (text.includes('rss')) say({ event: 'rss', bytes: process.memoryUsage.rss() }) })
process.stdin.on('end', () => {
  clearInterval(watch)
  void Promise.all(nodes.map(async ({ node }) => node.stop())).finally(() => { process.exit(0) })
})
