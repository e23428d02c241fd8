import WebSocket from 'ws'

export interface BusMessage {
  type: string
  data: Record<string, unknown>
  context: Record<string, unknown>
}

export interface OutgoingMessage {
  type: string
  data?: Record<string, unknown>
  context?: Record<string, unknown>
}

/** A websocket client of a messagebus that records every message it sees (its own echoes included) and can emit its own. */
export class BusProbe {
  readonly messages: BusMessage[] = []
  /** `performance.now()` at the arrival of each message, index for index with `messages`. */
  readonly arrivals: number[] = []
  private readonly listeners = new Set<(message: BusMessage) => void>()
  private readonly ws: WebSocket

  private constructor (ws: WebSocket) {
    this.ws = ws
    // A bus that goes away (an instance being stopped) can reset the socket: not worth crashing the test process.
    ws.on('error', () => {})
    ws.on('message', (raw, isBinary) => {
      if (isBinary || !Buffer.isBuffer(raw)) return
      let message: BusMessage
      try {
        message = JSON.parse(raw.toString('utf8')) as BusMessage
      } catch {
        return
      }
      this.messages.push(message)
      this.arrivals.push(performance.now())
      for (const listener of this.listeners) listener(message)
    })
  }

  /** Connects, retrying while nothing listens yet (a bus that is still starting), until `timeoutMs`. */
  static async connect (url: string, { timeoutMs = 10_000 } = {}): Promise<BusProbe> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const ws = new WebSocket(url)
      // listening before the handshake ends: a bus greets in the same breath as it accepts
      const probe = new BusProbe(ws)
      try {
        await new Promise<void>((resolve, reject) => {
          ws.once('open', resolve)
          ws.once('error', reject)
        })
        return probe
      } catch (err) {
        ws.terminate()
        if (Date.now() > deadline) throw new Error(`no messagebus at ${url} after ${timeoutMs} ms: ${String(err)}`)
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    }
  }

  /** Index of the next message to arrive: pass it as `since` to wait only for what comes after this point. */
  get mark (): number {
    return this.messages.length
  }

  emit ({ type, data = {}, context = {} }: OutgoingMessage): void {
    this.ws.send(JSON.stringify({ type, data, context }))
  }

  /** As ovos_bus_client's Message.reply: the context is copied with `source` and `destination` swapped. */
  reply (to: BusMessage, type: string, data: Record<string, unknown> = {}, extraContext: Record<string, unknown> = {}): void {
    const context: Record<string, unknown> = { ...structuredClone(to.context), ...extraContext }
    if ('source' in context && 'destination' in context) {
      [context.source, context.destination] = [context.destination, context.source]
    }
    this.emit({ type, data, context })
  }

  /** As Message.forward: the context is kept as it is. */
  forward (to: BusMessage, type: string, data: Record<string, unknown> = {}): void {
    this.emit({ type, data, context: structuredClone(to.context) })
  }

  /** What a voice listener sends when someone speaks. */
  say (utterance: string, context: Record<string, unknown> = {}, lang = 'en-US'): void {
    this.emit({
      type: 'recognizer_loop:utterance',
      data: { utterances: [utterance], lang },
      context: { client_name: 'test-listener', source: 'audio', destination: ['skills'], session: { session_id: 'default' }, ...context }
    })
  }

  /** A frame that need not be JSON, as a misbehaving client would send. */
  sendRaw (text: string): void {
    this.ws.send(text)
  }

  of (type: string): BusMessage[] {
    return this.messages.filter(message => message.type === type)
  }

  /** Calls `listener` for every later message; returns the unsubscribe function. */
  onMessage (listener: (message: BusMessage) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Calls `handler` for every later message of `type`; returns the unsubscribe function. */
  on (type: string, handler: (message: BusMessage) => void): () => void {
    const listener = (message: BusMessage): void => { if (message.type === type) handler(message) }
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** The first message from index `since` on (default: all recorded) that matches, waiting up to `timeoutMs`. */
  async waitFor (what: string, predicate: (message: BusMessage) => boolean, timeoutMs = 10_000, { since = 0 } = {}): Promise<BusMessage> {
    const seen = this.messages.slice(since).find(predicate)
    if (seen !== undefined) return seen
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener)
        const recent = this.messages.slice(Math.max(since, this.messages.length - 30)).map(message => message.type)
        const closed = this.ws.readyState === WebSocket.OPEN ? '' : ' (the connection to the bus is closed)'
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}${closed}; bus since then: ${recent.join(', ') || '(nothing)'}`))
      }, timeoutMs)
      const listener = (message: BusMessage): void => {
        if (!predicate(message)) return
        clearTimeout(timer)
        this.listeners.delete(listener)
        resolve(message)
      }
      this.listeners.add(listener)
    })
  }

  async close (): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return
    const closed = new Promise(resolve => this.ws.once('close', resolve))
    this.ws.close()
    const timer = setTimeout(() => { this.ws.terminate() }, 1000)
    await closed
    clearTimeout(timer)
  }
}
