// preinstall: npm itself runs on the system Node; the project then runs on the Node 22 that `npm install` brings.
const major = Number(process.versions.node.split('.')[0])
if (major < 20) {
  process.stderr.write(`mycroft-mesh: Node ${process.version} is too old to install it; install Node 20 or newer (https://nodejs.org), then run npm install again\n`)
  process.exit(1)
}
