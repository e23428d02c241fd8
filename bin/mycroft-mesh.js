#!/usr/bin/env node
// Runs the TypeScript sources directly: Node >= 22.18 strips types without a build step.
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`mycroft-mesh needs Node >= 22.18, this is ${process.version}; run it through npm (npm start, npx mycroft-mesh), which uses the Node 22 that npm install brought\n`)
  process.exit(1)
}
const { main } = await import('../src/cli/index.ts')
process.exit(await main(process.argv))
