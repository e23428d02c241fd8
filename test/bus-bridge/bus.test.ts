import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocketServer } from 'ws'
import { BusClient, EmbeddedBus, type BusMessage } from '../../src/bus-bridge/index.ts'
import { BusProbe } from '../../support/bus-probe.ts'
import { waitFor } from '../../support/wait.ts'
import type { AddressInfo } from 'node:net'

const log = pino({ level: 'silent' })
const cleanups: Array<() => Promise<void> | void> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function embeddedBus (port = 0): Promise<EmbeddedBus> {
  const bus = new EmbeddedBus({ port, log })
  await bus.start()
  cleanups.push(async () => bus.stop())
  return bus
}

async function probe (url: string): Promise<BusProbe> {
  const made = await BusProbe.connect(url)
  cleanups.push(async () => made.close())
  return made
}

function client (url: string): { client: BusClient, received: BusMessage[] } {
  const made = new BusClient({ url, log, backoff: { initialMs: 50, maxMs: 200 } })
  const received: BusMessage[] = []
  made.onMessage(message => { if (message.type !== 'connected') received.push(message) })
  made.start()
  cleanups.push(async () => made.stop())
  return { client: made, received }
}

const hello: BusMessage = { type: 'mesh.test', data: { n: 1 }, context: { session: { session_id: 'default' } } }

describe('the embedded messagebus', () => {
  it('greets each client with `connected` and delivers every frame to every client, the sender included', async () => {
    const bus = await embeddedBus()
    const a = await probe(bus.url)
    const b = await probe(bus.url)
    await a.waitFor('the greeting', m => m.type === 'connected')
    a.emit(hello)
    await a.waitFor('the sender\'s own copy', m => m.type === 'mesh.test')
    await b.waitFor('the other client\'s copy', m => m.type === 'mesh.test')
  })

  it('drops a frame that is not JSON and keeps serving the sender and everyone else', async () => {
    const bus = await embeddedBus()
    const a = await probe(bus.url)
    const b = await probe(bus.url)
    a.sendRaw('this is not json')
    a.sendRaw('["an array, not a message"]')
    a.emit(hello)
    await b.waitFor('the valid message', m => m.type === 'mesh.test')
    expect(b.messages.map(m => m.type)).toEqual(['connected', 'mesh.test'])
    expect(bus.counters.dropped).toBe(2)
  })

  it('delivers a burst sent in one go whole and in order to every client', async () => {
    const bus = await embeddedBus()
    const sender = await probe(bus.url)
    const other = await probe(bus.url)
    await other.waitFor('the greeting', m => m.type === 'connected')
    for (let n = 0; n < 1_000; n++) sender.emit({ type: 'mesh.burst', data: { n }, context: {} })
    await waitFor('the whole burst', () => other.messages.filter(m => m.type === 'mesh.burst').length === 1_000)
    expect(other.messages.filter(m => m.type === 'mesh.burst').map(m => m.data.n)).toEqual(Array.from({ length: 1_000 }, (_, n) => n))
  })

  it('serves the node hosting it in-process: every message from the sockets, its own to them but not back to it', async () => {
    const bus = await embeddedBus()
    const socket = await probe(bus.url)
    const node = bus.attach()
    cleanups.push(async () => node.stop())
    const received: BusMessage[] = []
    node.onMessage(message => received.push(message))
    let connected = 0
    node.onConnected(() => { connected++ })
    expect(node.emit(hello)).toBe(false)
    node.start()
    expect(connected).toBe(1)
    expect(bus.clients).toBe(2)

    socket.emit(hello)
    await waitFor('the socket\'s message in-process', () => received.length === 1)
    expect(received[0]).toEqual(hello)

    const answer: BusMessage = { type: 'mesh.answer', data: { text: 'ünïcode ✓' }, context: {} }
    expect(node.emit(answer)).toBe(true)
    await socket.waitFor('the node\'s message on the socket', m => m.type === 'mesh.answer')
    expect(socket.messages.find(m => m.type === 'mesh.answer')).toEqual(answer)
    expect(received.map(m => m.type)).toEqual(['mesh.test'])
    expect(node.counters).toMatchObject({ sent: 1, received: 1, dropped: 1 })

    await node.stop()
    expect(node.emit(hello)).toBe(false)
    expect(bus.clients).toBe(1)
  })
})

describe('the messagebus client', () => {
  it('ignores the echo of its own frames, but not the same message from someone else later', async () => {
    const bus = await embeddedBus()
    const other = await probe(bus.url)
    const { client: bridge, received } = client(bus.url)
    await waitFor('the client to connect', () => bridge.state === 'connected')

    expect(bridge.emit(hello)).toBe(true)
    await other.waitFor('the message on the bus', m => m.type === 'mesh.test')
    await waitFor('the echo to come back', () => bridge.counters.echoes === 1)
    expect(received).toEqual([])

    other.emit(hello)
    await waitFor('the other client\'s message', () => received.length === 1)
    expect(received[0]).toEqual(hello)
  })

  it('survives frames that are not JSON from others, and sends nothing but JSON itself', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise(resolve => server.once('listening', resolve))
    cleanups.push(async () => new Promise<void>(resolve => { server.close(() => { resolve() }) }))
    const fromClient: string[] = []
    server.on('connection', socket => {
      socket.on('message', (data: Buffer) => fromClient.push(data.toString('utf8')))
      socket.send('garbage {')
      socket.send(Buffer.from([0xde, 0xad]), { binary: true })
      socket.send(JSON.stringify({ data: {} }))
      socket.send(JSON.stringify(hello))
    })
    const { port } = server.address() as AddressInfo
    const { client: bridge, received } = client(`ws://127.0.0.1:${port}/core`)
    await waitFor('the valid message', () => received.length === 1)
    expect(bridge.counters.nonJson).toBe(3)
    expect(bridge.state).toBe('connected')

    bridge.emit({ type: 'mesh.reply', data: { text: 'ünïcode ✓' }, context: {} })
    await waitFor('the frame on the server', () => fromClient.length === 1)
    expect(JSON.parse(fromClient[0] ?? '')).toEqual({ type: 'mesh.reply', data: { text: 'ünïcode ✓' }, context: {} })
  })

  it('reconnects with backoff when the bus goes away and comes back', async () => {
    const bus = await embeddedBus()
    const port = Number(new URL(bus.url).port)
    const { client: bridge, received } = client(bus.url)
    await waitFor('the client to connect', () => bridge.state === 'connected')

    await bus.stop()
    await waitFor('the client to notice', () => bridge.state === 'connecting')
    expect(bridge.emit(hello)).toBe(false)
    expect(bridge.counters.dropped).toBe(1)

    const again = await embeddedBus(port)
    await waitFor('the client to reconnect', () => bridge.state === 'connected')
    const other = await probe(again.url)
    other.emit(hello)
    await waitFor('a message after the reconnect', () => received.length === 1)
  })
})
