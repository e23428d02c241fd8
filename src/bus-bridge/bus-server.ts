import { WebSocketServer } from 'ws'
import { frameText, parseBusMessage } from './message.ts'
import type { Logger } from '../common/index.ts'
import type { AddressInfo } from 'node:net'

export const DEFAULT_BUS_PORT = 8181
export const BUS_PATH = '/core'

const CONNECTED = JSON.stringify({ type: 'connected', data: {}, context: { session: { session_id: 'default' } } })

export interface EmbeddedBusInit {
  port: number
  host?: string
  log: Logger
}

/**
 * A messagebus with the OVOS bus's semantics, for machines without one: greets each client with
 * `connected` and delivers every frame to every client, the sender included. Unlike the OVOS bus it drops
 * frames that are not JSON messages (one such frame makes the Python clients reconnect).
 */
export class EmbeddedBus {
  readonly counters = { frames: 0, dropped: 0 }
  private readonly init: EmbeddedBusInit
  private server?: WebSocketServer

  constructor (init: EmbeddedBusInit) {
    this.init = init
  }

  get url (): string {
    const address = this.server?.address() as AddressInfo | undefined
    if (address === undefined) throw new Error('the embedded bus is not listening')
    return `ws://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}${BUS_PATH}`
  }

  get clients (): number {
    return this.server?.clients.size ?? 0
  }

  async start (): Promise<void> {
    const server = new WebSocketServer({ host: this.init.host ?? '127.0.0.1', port: this.init.port, path: BUS_PATH, maxPayload: 16 * 1024 * 1024 })
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve)
      server.once('error', reject)
    })
    server.on('error', err => { this.init.log.error({ err }, 'embedded messagebus error') })
    server.on('connection', socket => {
      socket.send(CONNECTED)
      socket.on('message', (data, isBinary) => { this.deliver(frameText(data, isBinary)) })
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

  private deliver (text: string | undefined): void {
    if (text === undefined || parseBusMessage(text) === undefined) {
      this.counters.dropped++
      this.init.log.warn({ bytes: text?.length }, 'embedded messagebus dropped a frame that is not a JSON message')
      return
    }
    this.counters.frames++
    for (const client of this.server?.clients ?? []) {
      if (client.readyState === client.OPEN) client.send(text)
    }
  }
}
