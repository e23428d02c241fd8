// A raw TCP peer for the baselines, run in its own process like the nodes: echoes every byte back
// ("echo" mode) or swallows bytes and answers one byte once it has had `total` ("sink" mode).
// Prints its port on stdout.
import { createServer } from 'node:net'

const [mode = 'echo', totalText = '0'] = process.argv.slice(2)
const total = Number(totalText)
const server = createServer(socket => {
  socket.setNoDelay(true)
  let received = 0
  socket.on('data', chunk => {
    if (mode === 'echo') {
      socket.write(chunk)
      return
    }
    received += chunk.byteLength
    if (received >= total) socket.write(Buffer.from([1]))
  })
  socket.on('error', () => {})
})
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(`${typeof address === 'object' && address !== null ? address.port : 0}\n`)
})
