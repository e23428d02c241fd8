// A raw websocket peer for the bus baselines, in its own process: counts text frames and answers "done" once it
// has had `total` of them, or (`echo`) sends each one back, parsed and written again as a bus would. Prints its port.
import { WebSocketServer } from 'ws'

const echo = process.argv[2] === 'echo'
const total = Number(process.argv[2] ?? '0')
const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
server.on('connection', socket => {
  let received = 0
  socket.on('message', (data: Buffer) => {
    const message: unknown = JSON.parse(data.toString('utf8'))
    if (echo) socket.send(JSON.stringify(message))
    else if (++received === total) socket.send('done')
  })
})
server.on('listening', () => {
  const address = server.address()
  process.stdout.write(`${typeof address === 'object' && address !== null ? address.port : 0}\n`)
})
