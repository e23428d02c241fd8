import { WebSocketServer, type WebSocket } from 'ws'
import { corkForTick } from '../common/index.ts'
import { BusSubscriptions, messageText, type BusState, type MessageBus } from './bus.ts'
import { BUS_PATH } from './constants.ts'
import { frameText, parseBusMessage, type BusMessage } from './message.ts'
import type { Logger } from '../common/index.ts'
import type { AddressInfo, Socket } from 'node:net'

const CONNECTED = JSON.stringify({ type: 'connected', data: {}, context: { session: { session_id: 'default' } } })

export interface EmbeddedBusInit {
  port: number
  host?: string
  log: Logger
}

/**
 * A messagebus with the OVOS bus's semantics, for machines without one: greets each client with
 * `connected` and delivers every frame to every client, the sender included. Unlike the OVOS bus it drops
 * frames that are not JSON messages (one such frame makes the Python clients reconnect). The node hosting it
 * attaches in-process (`attach()`), without a websocket of its own.
 */
export class EmbeddedBus {
  readonly counters = { frames: 0, dropped: 0 }
  private readonly init: EmbeddedBusInit
  private readonly attached = new Set<AttachedBusClient>()
  private readonly socketOf = new WeakMap<WebSocket, Socket>()
  private server?: WebSocketServer

  constructor (init: EmbeddedBusInit) {
    this.init = init
  }

  get url (): string {
    const address = this.server?.address() as AddressInfo | undefined
    if (address === undefined) throw new Error('the embedded bus is not listening')
    return `ws://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}${BUS_PATH}`
  }

  /** programs on the bus: websocket clients and in-process ones */
  get clients (): number {
    return (this.server?.clients.size ?? 0) + this.attached.size
  }

  async start (): Promise<void> {
    const server = new WebSocketServer({ host: this.init.host ?? '127.0.0.1', port: this.init.port, path: BUS_PATH, maxPayload: 16 * 1024 * 1024 })
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve)
      server.once('error', reject)
    })
    server.on('error', err => { this.init.log.error({ err }, 'embedded messagebus error') })
    server.on('connection', (socket, request) => {
      this.socketOf.set(socket, request.socket)
      socket.send(CONNECTED)
      socket.on('message', (data, isBinary) => { this.receive(frameText(data, isBinary)) })
      socket.on('error', () => { socket.terminate() })
    })
    this.server = server
    this.init.log.info({ url: this.url }, 'embedded messagebus listening')
  }

  async stop (): Promise<void> {
    const server = this.server
    this.server = undefined
    if (server === undefined) return
    for (const client of server.clients) client.terminate()
    await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  }

  /** An in-process client: it gets every message but its own, already parsed, and sends without a socket. */
  attach (): MessageBus {
    return new AttachedBusClient(this.init.log, {
      url: () => this.url,
      up: () => this.server !== undefined,
      join: client => { this.attached.add(client) },
      leave: client => { this.attached.delete(client) },
      send: (message, text, from) => {
        this.counters.frames++
        this.broadcast(text)
        for (const client of this.attached) if (client !== from) client.receive(message)
      }
    })
  }

  private receive (text: string | undefined): void {
    const message = text === undefined ? undefined : parseBusMessage(text)
    if (text === undefined || message === undefined) {
      this.counters.dropped++
      this.init.log.warn({ bytes: text?.length }, 'embedded messagebus dropped a frame that is not a JSON message')
      return
    }
    this.counters.frames++
    // sockets first, so that what an attached client answers never overtakes the message it answers
    this.broadcast(text)
    for (const client of this.attached) client.receive(message)
  }

  /** To every client; what a tick sends to one client leaves in one write. */
  private broadcast (text: string): void {
    for (const client of this.server?.clients ?? []) {
      if (client.readyState !== client.OPEN) continue
      const socket = this.socketOf.get(client)
      if (socket !== undefined) corkForTick(socket)
      client.send(text)
    }
  }
}

/** The embedded bus as its attached clients see it. */
interface AttachedHost {
  url: () => string
  up: () => boolean
  join: (client: AttachedBusClient) => void
  leave: (client: AttachedBusClient) => void
  /** to every socket as text, and to the other attached clients as it is */
  send: (message: BusMessage, text: string, from: AttachedBusClient) => void
}

class AttachedBusClient extends BusSubscriptions implements MessageBus {
  private readonly bus: AttachedHost
  private currentState: BusState = 'connecting'

  constructor (log: Logger, bus: AttachedHost) {
    super(log)
    this.bus = bus
  }

  get url (): string {
    return this.bus.url()
  }

  get state (): BusState {
    return this.currentState
  }

  start (): void {
    if (this.currentState !== 'connecting') return
    this.currentState = 'connected'
    this.bus.join(this)
    this.announceConnected()
  }

  async stop (): Promise<void> {
    this.currentState = 'stopped'
    this.bus.leave(this)
    return Promise.resolve()
  }

  emit (message: BusMessage): boolean {
    const text = this.currentState === 'connected' && this.bus.up() ? messageText(message, this.log) : undefined
    if (text === undefined) {
      this.counters.dropped++
      if (this.currentState !== 'connected') this.log.warn({ type: message.type }, 'messagebus down: message not sent')
      return false
    }
    this.counters.sent++
    this.bus.send(message, text, this)
    return true
  }

  receive (message: BusMessage): void {
    this.deliver(message)
  }
}
