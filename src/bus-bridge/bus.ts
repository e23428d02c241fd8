import { errorMessage, type Logger } from '../common/index.ts'
import type { BusMessage } from './message.ts'

export type BusState = 'connecting' | 'connected' | 'stopped'

export interface BusClientCounters {
  received: number
  sent: number
  /** frames we sent that the bus echoed back, dropped */
  echoes: number
  /** frames from others that were not a JSON message, dropped */
  nonJson: number
  /** messages we could not send because the bus was down */
  dropped: number
}

export type BusListener = (message: BusMessage) => void

/** What the bridge needs of a messagebus connection: a websocket client, or the embedded bus's in-process one. */
export interface MessageBus {
  readonly url: string
  readonly state: BusState
  readonly counters: BusClientCounters
  start: () => void
  stop: () => Promise<void>
  /** Calls `listener` for every message from others; returns the unsubscribe function. */
  onMessage: (listener: BusListener) => () => void
  /** Calls `listener` each time the bus (re)connects. */
  onConnected: (listener: () => void) => () => void
  /** Sends a message; false (and a log line) when the bus is down. */
  emit: (message: BusMessage) => boolean
}

/** What every bus connection keeps: its counters and who listens to it. */
export abstract class BusSubscriptions {
  readonly counters: BusClientCounters = { received: 0, sent: 0, echoes: 0, nonJson: 0, dropped: 0 }
  protected readonly log: Logger
  private readonly listeners = new Set<BusListener>()
  private readonly connectedListeners = new Set<() => void>()

  constructor (log: Logger) {
    this.log = log
  }

  onMessage (listener: BusListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  onConnected (listener: () => void): () => void {
    this.connectedListeners.add(listener)
    return () => { this.connectedListeners.delete(listener) }
  }

  /** Hands a message from the bus to every listener; one that throws is logged and the others still get it. */
  protected deliver (message: BusMessage): void {
    this.counters.received++
    for (const listener of this.listeners) {
      try {
        listener(message)
      } catch (err) {
        this.log.error({ err, type: message.type }, 'a messagebus listener failed')
      }
    }
  }

  protected announceConnected (): void {
    for (const listener of this.connectedListeners) listener()
  }
}

/** JSON text of a message, or undefined (and a log line) when it cannot be written as JSON. */
export function messageText (message: BusMessage, log: Logger): string | undefined {
  try {
    return JSON.stringify(message)
  } catch (err) {
    // e.g. data nested thousands deep, copied from a hostile message
    log.warn({ type: message.type, err: errorMessage(err) }, 'message not sent: it cannot be written as JSON')
    return undefined
  }
}
