#!/usr/bin/env node
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`mycroft-mesh needs Node >= 22.18, this is ${process.version}; run it through npm (npm start, npx mycroft-mesh), which uses the Node 22 that npm install brought\n`)
  process.exit(1)
}
// V8 flags only V8 reads, at start, so `start` becomes itself with them (BENCHMARKS.md, "Lighter nodes"): a small
// young generation (at its default, 16 MB a half, most of it is memory a node touches once); the optimizing
// compiler only for code that stays hot (start-up work would load its 5 MB of code for nothing); and the
// collector in reach, for the garbage a burst of links leaves (src/node/after-bursts.ts).
const NODE_FLAGS = ['--max-semi-space-size=1', '--invocation-count-for-turbofan=30000', '--expose-gc']
if (process.argv[2] === 'start' && !process.execArgv.some(flag => flag.startsWith('--max-semi-space-size')) && typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, ...NODE_FLAGS, ...process.execArgv, ...process.argv.slice(1)])
}
// The bundle in dist/ while it matches the sources (npm install and npm run build make it); else the
// TypeScript sources themselves, which Node >= 22.18 runs by stripping their types (heavier, same behaviour).
const { distIsCurrent } = await import('./sources-digest.js')
const { main } = distIsCurrent() ? await import('../dist/cli.js') : await import('../src/cli/index.ts')
process.exit(await main(process.argv))
