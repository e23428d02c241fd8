// A raw websocket peer for the bus baseline, in its own process: counts text frames and answers "done"
// once it has had `total` of them. Prints its port on stdout.
import { WebSocketServer } from 'ws'

const total = Number(process.argv[2] ?? '0')
const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
server.on('connection', socket => {
  let received = 0
  socket.on('message', (data: Buffer) => {
    JSON.parse(data.toString('utf8'))
    if (++received === total) socket.send('done')
  })
})
server.on('listening', () => {
  const address = server.address()
  process.stdout.write(`${typeof address === 'object' && address !== null ? address.port : 0}\n`)
})
