/**
 * `npm run build` (and `npm install`, through `prepare`): bundles the node into dist/, which bin/mycroft-mesh.js
 * runs while it matches the sources. Most of a node's memory is loaded code, and the bundle loads less of it:
 * plain JavaScript needs no type stripper (Node's is a WebAssembly compiler of its own, ~15 MB), parts a node
 * uses only sometimes (metrics, the pretty log printer, a command's own code) are chunks loaded when used, and
 * the plugins below keep three costly pieces out of every node. BENCHMARKS.md ("Lighter nodes") measures each.
 *
 * `--if-stale` builds only when dist/ does not match the sources.
 */
import { readFile, rm, writeFile } from 'node:fs/promises'
import { builtinModules } from 'node:module'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { build, type Plugin } from 'esbuild'
import { DIGEST_FILE, DIST, ROOT, distIsCurrent, sourcesDigest } from '../bin/sources-digest.js'
import { withLeanerListeners } from './leaner-listeners.ts'

const { values: flags } = parseArgs({ options: { 'if-stale': { type: 'boolean', default: false } } })
if (flags['if-stale'] && distIsCurrent()) process.exit(0)

/** Noise's default primitives instantiate WebAssembly on import; src/node/noise-crypto.ts stands in for them. */
const noiseWithoutWebAssembly: Plugin = {
  name: 'noise-without-webassembly',
  setup (builder) {
    builder.onResolve({ filter: /^\.\/crypto\/index\.js$/ }, args => args.importer.includes('@chainsafe/libp2p-noise')
      ? { path: 'noise-default-crypto', namespace: 'mycroft-mesh' }
      : undefined)
    builder.onLoad({ filter: /^noise-default-crypto$/, namespace: 'mycroft-mesh' }, () => ({
      contents: `export { noiseCrypto as defaultCrypto } from ${JSON.stringify(join(ROOT, 'src/node/noise-crypto.ts'))}`,
      resolveDir: ROOT,
      loader: 'ts'
    }))
  }
}

/**
 * libp2p's peer store sorts protocol names, tags and addresses with localeCompare, which loads ICU's collator
 * (~3 MB) on the first link; the order only has to be the same each time, which comparing code units gives.
 */
const PEER_STORE_SORTS = /@libp2p\/peer-store\/dist\/src\/utils\/(to-peer-pb|dedupe-addresses)\.js$/
const peerStoreWithoutCollator: Plugin = {
  name: 'peer-store-without-collator',
  setup (builder) {
    builder.onLoad({ filter: PEER_STORE_SORTS }, async args => {
      const source = await readFile(args.path, 'utf8')
      const sorted = source.replace(/return (.+?)\.localeCompare\((.+?)\);/g, 'return ((x, y) => x < y ? -1 : x > y ? 1 : 0)($1, $2);')
      return sorted === source
        ? { contents: source, warnings: [{ text: `no localeCompare left to replace in ${args.path}: check ${PEER_STORE_SORTS.source} against this version of @libp2p/peer-store` }] }
        : { contents: sorted }
    })
  }
}

/** main-event's emitters, each listener without the closures it does not need (scripts/leaner-listeners.ts). */
const MAIN_EVENT = /main-event\/dist\/src\/index\.js$/
const leanerListeners: Plugin = {
  name: 'leaner-listeners',
  setup (builder) {
    builder.onLoad({ filter: MAIN_EVENT }, async args => {
      const source = await readFile(args.path, 'utf8')
      const lean = withLeanerListeners(source)
      return typeof lean === 'string'
        ? { contents: lean }
        : { contents: source, warnings: [{ text: `main-event's addEventListener is not as expected in ${args.path}: listeners keep their wrappers (${lean.missing})` }] }
    })
  }
}

/**
 * An ES module import of one of Node's own modules builds its namespace by reading every export, and node:http's
 * include lazy getters that load undici (fetch, WebSocket: ~10 MB) which no node uses. Taken through require()
 * instead, a module's exports are read only when used.
 */
const BUILTINS = new Set(builtinModules.flatMap(name => [name, `node:${name}`]))
const builtinsThroughRequire: Plugin = {
  name: 'builtins-through-require',
  setup (builder) {
    builder.onResolve({ filter: /^[\w:/]+$/ }, args => BUILTINS.has(args.path) && args.kind !== 'require-call'
      ? { path: args.path.replace(/^node:/, ''), namespace: 'node-builtin' }
      : undefined)
    builder.onLoad({ filter: /.*/, namespace: 'node-builtin' }, args => ({ contents: `module.exports = require('node:${args.path}')`, loader: 'js' }))
  }
}

/**
 * Node's modules that CommonJS dependencies require() when they load but that a node uses rarely or never: ws
 * takes https and tls for wss:// addresses, prom-client cluster for clustered apps, pino worker_threads for its
 * transports. Loading tls and https costs a child node 2.3 MB (measured: 70.7 → 68.4 MB). Each is handed over as a
 * stand-in that requires the real module the first time anything is read from it.
 */
const RARELY_USED = new Set(['tls', 'https', 'cluster', 'child_process', 'worker_threads', 'assert', 'perf_hooks', 'dgram'])
const rarelyUsedBuiltinsOnDemand: Plugin = {
  name: 'rarely-used-builtins-on-demand',
  setup (builder) {
    // only CommonJS callers get the stand-in: an ES module's import copies every name of what it imports (which
    // would load it at once), and the stand-in's own require() of the real module is left to Node
    builder.onResolve({ filter: /^[\w:/]+$/ }, args => args.kind === 'require-call' && args.namespace === 'file' && RARELY_USED.has(args.path.replace(/^node:/, ''))
      ? { path: args.path.replace(/^node:/, ''), namespace: 'builtin-on-demand' }
      : undefined)
    builder.onLoad({ filter: /.*/, namespace: 'builtin-on-demand' }, args => ({
      loader: 'js',
      contents: `let real
const load = () => (real ??= require('node:${args.path}'))
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => { const found = Reflect.getOwnPropertyDescriptor(load(), key); return found === undefined ? undefined : { ...found, configurable: true } }
})`
    }))
  }
}

const started = Date.now()
await rm(DIST, { recursive: true, force: true })
await build({
  entryPoints: { cli: join(ROOT, 'src/cli/index.ts') },
  outdir: DIST,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  // names are kept: errors, logs and stack traces name the node's own classes and functions
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  chunkNames: 'chunks/[name]-[hash]',
  // optional native speed-ups of ws, absent unless a user installs them
  external: ['bufferutil', 'utf-8-validate'],
  // CommonJS dependencies call require() for Node's own modules, which an ES module does not have
  banner: { js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);' },
  plugins: [rarelyUsedBuiltinsOnDemand, builtinsThroughRequire, noiseWithoutWebAssembly, peerStoreWithoutCollator, leanerListeners],
  logLevel: 'warning'
})
await writeFile(DIGEST_FILE, `${sourcesDigest()}\n`)
process.stderr.write(`mycroft-mesh: built dist/ in ${Date.now() - started} ms\n`)
