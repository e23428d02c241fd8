import WebSocket from 'ws'
import { errorMessage, runReconnectLoop, type BackoffOptions, type Logger } from '../common/index.ts'
import { BusSubscriptions, messageText, type BusState, type MessageBus } from './bus.ts'
import { frameText, parseBusMessage, type BusMessage } from './message.ts'

/** How long a frame we sent is remembered, to recognise the bus echoing it back to us. */
const ECHO_MEMORY_MS = 10_000
const CONNECT_TIMEOUT_MS = 3_000

export interface BusClientInit {
  url: string
  log: Logger
  backoff?: BackoffOptions
}

/**
 * A client of the Mycroft/OVOS messagebus: reconnects with backoff when the bus goes away, sends nothing but
 * JSON, drops the echoes of its own frames (the OVOS bus sends every frame to every client, the sender
 * included) and survives frames from others that are not JSON.
 */
export class BusClient extends BusSubscriptions implements MessageBus {
  readonly url: string
  private readonly backoff: BackoffOptions
  /** frames sent and not yet echoed: text → send times, oldest first */
  private readonly sentRecently = new Map<string, number[]>()
  private readonly sentOrder: Array<{ text: string, at: number }> = []
  private sentOrderHead = 0
  private readonly controller = new AbortController()
  private socket?: WebSocket
  private running?: Promise<void>
  private currentState: BusState = 'connecting'

  constructor (init: BusClientInit) {
    super(init.log)
    this.url = init.url
    this.backoff = init.backoff ?? { initialMs: 250, maxMs: 5_000 }
  }

  get state (): BusState {
    return this.currentState
  }

  start (): void {
    this.running ??= runReconnectLoop<WebSocket>({
      signal: this.controller.signal,
      backoff: this.backoff,
      connect: async signal => this.open(signal),
      closed: async socket => new Promise(resolve => {
        socket.once('close', (code, reason) => { resolve(`closed (${code}${reason.length > 0 ? `: ${reason.toString()}` : ''})`) })
      }),
      onUp: socket => {
        this.socket = socket
        this.currentState = 'connected'
        this.log.info({ url: this.url }, 'connected to the messagebus')
        this.announceConnected()
      },
      onDown: reason => {
        this.socket = undefined
        this.currentState = 'connecting'
        this.log.warn({ url: this.url, reason }, 'lost the messagebus; reconnecting')
      },
      onFailure: (err, attempt, delayMs) => {
        this.log.warn({ url: this.url, attempt, retryInMs: delayMs }, `messagebus ${this.url} unreachable: ${errorMessage(err)}; retrying in ${(delayMs / 1000).toFixed(1)} s`)
      }
    })
  }

  async stop (): Promise<void> {
    this.currentState = 'stopped'
    this.controller.abort()
    this.socket?.close(1000, 'shutting down')
    await this.running
  }

  emit (message: BusMessage): boolean {
    const socket = this.socket
    if (socket === undefined || socket.readyState !== WebSocket.OPEN) {
      this.counters.dropped++
      this.log.warn({ type: message.type }, 'messagebus down: message not sent')
      return false
    }
    const text = messageText(message, this.log)
    if (text === undefined) {
      this.counters.dropped++
      return false
    }
    this.remember(text)
    socket.send(text)
    this.counters.sent++
    return true
  }

  private async open (signal: AbortSignal): Promise<WebSocket> {
    const socket = new WebSocket(this.url, { handshakeTimeout: CONNECT_TIMEOUT_MS, maxPayload: 16 * 1024 * 1024 })
    socket.on('message', (data, isBinary) => { this.receive(frameText(data, isBinary)) })
    return new Promise<WebSocket>((resolve, reject) => {
      const onAbort = (): void => { socket.terminate() }
      signal.addEventListener('abort', onAbort, { once: true })
      socket.once('open', () => {
        signal.removeEventListener('abort', onAbort)
        resolve(socket)
      })
      socket.once('error', err => {
        signal.removeEventListener('abort', onAbort)
        socket.terminate()
        reject(err)
      })
    }).then(connected => {
      // errors after the handshake end in 'close', which the loop waits on
      connected.on('error', err => { this.log.warn({ err: errorMessage(err) }, 'messagebus socket error') })
      return connected
    })
  }

  private receive (text: string | undefined): void {
    if (text !== undefined && this.isEcho(text)) {
      this.counters.echoes++
      return
    }
    const message = text === undefined ? undefined : parseBusMessage(text)
    if (message === undefined) {
      this.counters.nonJson++
      this.log.warn({ bytes: text?.length }, 'dropped a messagebus frame that is not a JSON message')
      return
    }
    this.deliver(message)
  }

  private remember (text: string): void {
    const now = Date.now()
    const times = this.sentRecently.get(text)
    if (times === undefined) this.sentRecently.set(text, [now])
    else times.push(now)
    this.sentOrder.push({ text, at: now })
    this.forgetOld(now)
  }

  /** The OVOS bus (and the embedded one) hands every frame back to its sender as it was sent, text for text. */
  private isEcho (text: string): boolean {
    const times = this.sentRecently.get(text)
    if (times === undefined) return false
    times.shift()
    if (times.length === 0) this.sentRecently.delete(text)
    return true
  }

  /** Drops what was sent too long ago to come back, oldest first: a frame whose echo never came stays at most this long. */
  private forgetOld (now: number): void {
    while (this.sentOrderHead < this.sentOrder.length) {
      const oldest = this.sentOrder[this.sentOrderHead] as { text: string, at: number }
      if (oldest.at >= now - ECHO_MEMORY_MS) break
      this.sentOrderHead++
      const times = this.sentRecently.get(oldest.text)
      // still waiting for this very send's echo (an echo takes the oldest time)
      if (times?.[0] === oldest.at) {
        times.shift()
        if (times.length === 0) this.sentRecently.delete(oldest.text)
      }
    }
    if (this.sentOrderHead > 1_024 && this.sentOrderHead * 2 > this.sentOrder.length) {
      this.sentOrder.splice(0, this.sentOrderHead)
      this.sentOrderHead = 0
    }
  }
}
