import WebSocket from 'ws'
import { waitFor } from './wait.ts'

export interface ProbedMessage {
  type: string
  data: Record<string, unknown>
  context: Record<string, unknown>
}

/** A plain websocket client on a messagebus that records every message and can emit its own. */
export class BusProbe {
  readonly messages: ProbedMessage[] = []
  private readonly listeners: Array<(message: ProbedMessage) => void> = []
  private socket?: WebSocket

  static async connect (url: string): Promise<BusProbe> {
    const probe = new BusProbe()
    const socket = new WebSocket(url)
    // listening before the handshake ends: the bus greets in the same breath as it accepts
    socket.on('message', (data: Buffer) => {
      const text = data.toString('utf8')
      let message: ProbedMessage
      try {
        message = JSON.parse(text) as ProbedMessage
      } catch {
        message = { type: '(not json)', data: { text }, context: {} }
      }
      probe.messages.push(message)
      for (const listener of probe.listeners) listener(message)
    })
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => { resolve() })
      socket.once('error', reject)
    })
    probe.socket = socket
    return probe
  }

  onMessage (listener: (message: ProbedMessage) => void): void {
    this.listeners.push(listener)
  }

  emit (message: ProbedMessage): void {
    this.socket?.send(JSON.stringify(message))
  }

  sendRaw (text: string): void {
    this.socket?.send(text)
  }

  /** What a voice listener sends when someone speaks. */
  say (utterance: string, lang = 'en-US'): void {
    this.emit({
      type: 'recognizer_loop:utterance',
      data: { utterances: [utterance], lang },
      context: { client_name: 'test-listener', source: 'audio', destination: ['skills'], session: { session_id: 'default' } }
    })
  }

  async waitFor (what: string, match: (message: ProbedMessage) => boolean, timeoutMs = 10_000): Promise<ProbedMessage> {
    return waitFor(what, () => this.messages.find(match), { timeoutMs })
  }

  of (type: string): ProbedMessage[] {
    return this.messages.filter(message => message.type === type)
  }

  close (): void {
    this.socket?.close()
  }
}
