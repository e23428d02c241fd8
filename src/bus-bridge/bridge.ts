import WebSocket from 'ws'
import { errorMessage, UserError, type Logger } from '../common/index.ts'
import { ChildAnswerer, type ChildRef, type SpokenAnswer } from './answerer.ts'
import { BusClient } from './bus-client.ts'
import type { BusClientCounters, BusState, MessageBus } from './bus.ts'
import { BUS_PATH, DEFAULT_BUS_PORT, EmbeddedBus } from './bus-server.ts'
import { MESH_CONTEXT_KEY, UnhandledDetector, type DetectorOptions, type Unhandled } from './detector.ts'
import { isRecord, type BusMessage } from './message.ts'

export const DEFAULT_BUS_URL = `ws://127.0.0.1:${DEFAULT_BUS_PORT}${BUS_PATH}`
/** How long `auto` waits for a bus at the default address before hosting its own. */
const PROBE_TIMEOUT_MS = 1_000

export type BusMode = 'external' | 'embedded'

export interface BusStatus {
  mode: BusMode | 'none'
  url: string | null
  state: BusState | 'disabled'
  counters: BusClientCounters | null
  /** programs connected to the embedded bus, this node included */
  clients: number | null
  /** later messages passed on to children */
  delivered: number
}

export interface BusBridgeInit {
  /** `auto`, `embedded`, `embedded:PORT` or a ws:// URL */
  spec: string
  log: Logger
  detector: DetectorOptions
  catchAllFallbacks?: string[]
  deliveredTypes?: string[]
  canAsk: () => boolean
  onUnhandled: (unhandled: Unhandled) => void
  childNamed: (nameOrPeerId: string) => ChildRef | undefined
  deliver: (child: ChildRef, message: BusMessage) => void
}

/** Is a messagebus answering at `url`? */
export async function probeBus (url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise(resolve => {
    const socket = new WebSocket(url, { handshakeTimeout: timeoutMs })
    socket.once('open', () => { socket.close(); resolve(true) })
    socket.once('error', () => { socket.terminate(); resolve(false) })
  })
}

/**
 * The node's side of the local Mycroft/OVOS messagebus: connects to it (or hosts one), notices what the local
 * assistant cannot answer, answers children with the local assistant, and speaks what the parent sends later.
 */
export class BusBridge {
  readonly mode: BusMode
  private readonly init: BusBridgeInit
  private readonly embedded?: EmbeddedBus
  private readonly client: MessageBus
  private readonly detector: UnhandledDetector
  private readonly answerer: ChildAnswerer

  private constructor (init: BusBridgeInit, bus: string | EmbeddedBus) {
    this.init = init
    this.embedded = typeof bus === 'string' ? undefined : bus
    this.mode = this.embedded === undefined ? 'external' : 'embedded'
    this.client = typeof bus === 'string' ? new BusClient({ url: bus, log: init.log }) : bus.attach()
    this.detector = new UnhandledDetector({ bus: this.client, options: init.detector, log: init.log, canAsk: init.canAsk, onUnhandled: init.onUnhandled })
    this.answerer = new ChildAnswerer({
      bus: this.client,
      log: init.log,
      catchAllFallbacks: init.catchAllFallbacks,
      deliveredTypes: init.deliveredTypes,
      childNamed: init.childNamed,
      deliver: init.deliver
    })
  }

  /** Resolves the bus spec (hosting the embedded bus if need be) and starts bridging. */
  static async start (init: BusBridgeInit): Promise<BusBridge> {
    const embeddedPort = /^embedded(?::(\d+))?$/.exec(init.spec)
    let bridge: BusBridge
    if (embeddedPort !== null) {
      const embedded = await hostBus(Number(embeddedPort[1] ?? DEFAULT_BUS_PORT), init.log)
      bridge = new BusBridge(init, embedded)
    } else if (init.spec === 'auto' && !await probeBus(DEFAULT_BUS_URL)) {
      init.log.info('no messagebus at the default address: hosting one')
      const embedded = await hostBus(DEFAULT_BUS_PORT, init.log)
      bridge = new BusBridge(init, embedded)
    } else {
      bridge = new BusBridge(init, init.spec === 'auto' ? DEFAULT_BUS_URL : init.spec)
    }
    bridge.detector.start()
    bridge.answerer.start()
    bridge.client.start()
    return bridge
  }

  async stop (): Promise<void> {
    this.detector.stop()
    this.answerer.stop()
    await this.client.stop()
    await this.embedded?.stop()
  }

  status (): BusStatus {
    return {
      mode: this.mode,
      url: this.client.url,
      state: this.client.state,
      counters: { ...this.client.counters },
      clients: this.embedded?.clients ?? null,
      delivered: this.answerer.counters.delivered
    }
  }

  /** This node's own assistant answering a child's question. */
  async answerForChild (utterances: string[], lang: string, child: ChildRef, signal: AbortSignal): Promise<SpokenAnswer[] | undefined> {
    return this.answerer.answer(utterances, lang, child, signal)
  }

  /** A message the parent's skill addressed to this node: put it on the local bus so the local audio speaks it. */
  emitFromParent (message: BusMessage, parentName: string): void {
    const context = Object.fromEntries(Object.entries(message.context).filter(([key]) => !['session', 'destination', 'source'].includes(key)))
    this.client.emit({
      type: message.type,
      data: message.data,
      context: {
        ...context,
        source: 'mycroft-mesh',
        destination: ['audio'],
        session: { session_id: 'default' },
        [MESH_CONTEXT_KEY]: { ...(isRecord(context[MESH_CONTEXT_KEY]) ? context[MESH_CONTEXT_KEY] : {}), answer: true, from_parent: parentName }
      }
    })
  }
}

async function hostBus (port: number, log: Logger): Promise<EmbeddedBus> {
  const bus = new EmbeddedBus({ port, log })
  try {
    await bus.start()
  } catch (err) {
    throw new UserError(`cannot host the embedded messagebus on 127.0.0.1:${port}: ${errorMessage(err)}; pick another port with --bus embedded:PORT, or --bus none`)
  }
  return bus
}
