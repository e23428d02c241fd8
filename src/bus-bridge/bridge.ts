import WebSocket from 'ws'
import { errorMessage, UserError, type Logger } from '../common/index.ts'
import { ChildAnswerer } from './answerer.ts'
import { BusApi } from './bus-api.ts'
import { Courier } from './courier.ts'
import { BusClient } from './bus-client.ts'
import { EmbeddedBus } from './bus-server.ts'
import { BRIDGE_ANSWER_WAIT_MS, BRIDGE_PING, BRIDGE_PONG, BUS_CONNECT_WAIT_MS, DEFAULT_BUS_PORT, DEFAULT_BUS_URL, MESH_CONTEXT_KEY, PROBE_TIMEOUT_MS } from './constants.ts'
import { UnhandledDetector, type Unhandled } from './detector.ts'
import { isRecord, type BusMessage } from './message.ts'
import type { MessageBus } from './bus.ts'
import type { BusBridge, BusBridgeFigures, BusBridgeInit, Mesh } from './index.ts'
import type { Asker, Question, Sender, Speak } from '../routing/index.ts'

/** Is a messagebus answering at `url`? */
export async function probeBus (url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise(resolve => {
    const socket = new WebSocket(url, { handshakeTimeout: timeoutMs })
    socket.once('open', () => { socket.close(); resolve(true) })
    socket.once('error', () => { socket.terminate(); resolve(false) })
  })
}

interface Connection {
  client: MessageBus
  embedded?: EmbeddedBus
}

/**
 * The node's side of the local Mycroft/OVOS messagebus: connects to it (or hosts one), notices what the local
 * assistant cannot answer and asks the mesh, answers children with the local assistant, and speaks what the
 * parent sends later.
 */
export class BusBridgeService implements BusBridge {
  private readonly init: BusBridgeInit
  private readonly log: Logger
  private connection?: Connection
  private detector?: UnhandledDetector
  private answerer?: ChildAnswerer
  private courier?: Courier
  private api?: BusApi

  constructor (init: BusBridgeInit) {
    this.init = init
    this.log = init.log
    init.figures.reading('bus', (): BusBridgeFigures => {
      const connection = this.connection
      return {
        mode: connection === undefined ? 'none' : connection.embedded === undefined ? 'external' : 'embedded',
        url: connection?.client.url ?? null,
        state: connection?.client.state ?? 'disabled',
        counters: connection === undefined ? null : { ...connection.client.counters },
        clients: connection?.embedded?.clients ?? null
      }
    })
  }

  /** Resolves the bus spec (hosting the embedded bus if need be) and starts bridging this bus and the mesh. */
  async start (mesh: Mesh): Promise<void> {
    if (this.init.spec === 'none') return
    const connection = await connect(this.init.spec, this.log)
    this.connection = connection
    const { client } = connection
    client.onMessage(message => { this.answerBridgePing(client, message) })
    client.start()
    if (connection.embedded === undefined) await this.refuseSharedBus(client)
    this.detector = new UnhandledDetector({
      bus: client,
      options: this.init.detector,
      log: this.log,
      canAsk: () => mesh.asks.canAsk,
      onUnhandled: unhandled => { void this.askMesh(mesh, unhandled) }
    })
    const answerer = new ChildAnswerer({ bus: client, log: this.log, catchAllFallbacks: this.init.catchAllFallbacks })
    this.answerer = answerer
    this.courier = new Courier({
      bus: client,
      log: this.log,
      delivery: mesh.delivery,
      files: mesh.files,
      deliveredTypes: this.init.deliveredTypes,
      forwardTypes: this.init.forwardTypes,
      collects: message => answerer.collects(message),
      notify: (type, data) => { this.notify(type, data) }
    })
    this.api = new BusApi(client, mesh, this.log)
    this.detector.start()
    this.answerer.start()
    this.courier.start()
    this.api.start()
  }

  async stop (): Promise<void> {
    this.detector?.stop()
    this.answerer?.stop()
    this.courier?.stop()
    this.api?.stop()
    await this.connection?.client.stop()
    await this.connection?.embedded?.stop()
  }

  /** This node's own assistant answering a child's question. */
  async answer (question: Question, asker: Asker, signal: AbortSignal): Promise<Speak[] | undefined> {
    return this.answerer?.answer(question.utterances, question.lang, asker, signal)
  }

  /** A message another node sent this one: put it on the local bus so the local audio speaks it. */
  emitFromMesh (message: BusMessage, from: Sender): void {
    const context = addressless(message)
    this.connection?.client.emit({
      type: message.type,
      data: message.data,
      context: {
        ...context,
        source: 'mycroft-mesh',
        destination: ['audio'],
        session: { session_id: 'default' },
        // for the skills that answer: who sent it, by name and by the peer id its link or signature proved
        mesh: { from: from.name, from_peer: from.peerId },
        [MESH_CONTEXT_KEY]: { ...(isRecord(context[MESH_CONTEXT_KEY]) ? context[MESH_CONTEXT_KEY] : {}), answer: true, from: from.name }
      }
    })
  }

  /**
   * A child's request for this node's skills. Source and destination both name the child, so an answer made
   * with `reply` (which swaps them) or `forward` (which keeps them) is addressed to it; a session of the child's
   * own keeps this node's speakers silent.
   */
  emitRequest (message: BusMessage, from: Sender): void {
    this.connection?.client.emit({
      type: message.type,
      data: message.data,
      context: {
        ...addressless(message),
        source: from.name,
        destination: [from.name],
        session: { session_id: `mesh-${from.name}-${from.peerId.slice(-8)}` },
        mesh: { from: from.name, from_peer: from.peerId },
        [MESH_CONTEXT_KEY]: { request: true, from: from.name }
      }
    })
  }

  async request (message: BusMessage | null, accept: (reply: BusMessage) => boolean, timeoutMs: number): Promise<BusMessage | undefined> {
    const client = this.connection?.client
    if (client === undefined) return undefined
    return new Promise(resolve => {
      const timer = setTimeout(() => { stopListening(); resolve(undefined) }, timeoutMs)
      const stopListening = client.onMessage(reply => {
        if (!accept(reply)) return
        clearTimeout(timer)
        stopListening()
        resolve(reply)
      })
      if (message !== null) client.emit(message)
    })
  }

  notify (type: string, data: Record<string, unknown>): void {
    this.connection?.client.emit({ type, data, context: { source: 'mycroft-mesh', destination: ['skills'], [MESH_CONTEXT_KEY]: { notice: true } } })
  }

  private answerBridgePing (client: MessageBus, message: BusMessage): void {
    if (message.type !== BRIDGE_PING) return
    client.emit({ type: BRIDGE_PONG, data: { peer_id: this.init.self.peerId, name: this.init.self.name }, context: {} })
  }

  /**
   * Two mesh nodes on one bus would both register as its fallback skill under the same id and both answer for
   * it: a node refuses to start on a bus another mesh node bridges already.
   */
  private async refuseSharedBus (client: MessageBus): Promise<void> {
    if (!await connectedWithin(client, BUS_CONNECT_WAIT_MS)) {
      this.log.warn({ url: client.url }, `the messagebus at ${client.url} did not answer within ${BUS_CONNECT_WAIT_MS / 1000} s; bridging it as soon as it does`)
      return
    }
    const other = await new Promise<{ peer_id?: unknown, name?: unknown } | undefined>(resolve => {
      const timer = setTimeout(() => { stopListening(); resolve(undefined) }, BRIDGE_ANSWER_WAIT_MS)
      const stopListening = client.onMessage(message => {
        if (message.type !== BRIDGE_PONG || message.data.peer_id === this.init.self.peerId) return
        clearTimeout(timer)
        stopListening()
        resolve(message.data)
      })
      client.emit({ type: BRIDGE_PING, data: { peer_id: this.init.self.peerId }, context: {} })
    })
    if (other === undefined) return
    await client.stop()
    const who = `${typeof other.name === 'string' ? other.name : 'another node'} (${typeof other.peer_id === 'string' ? other.peer_id : '?'})`
    throw new UserError(`another mesh node, ${who}, already bridges the messagebus at ${client.url}; give this node a bus of its own (--bus embedded:PORT, e.g. embedded:8182) or none (--bus none), or stop the other node`)
  }

  /** The local assistant could not answer: ask up the tree, then speak the answer or give the utterance back. */
  private async askMesh (mesh: Mesh, unhandled: Unhandled): Promise<void> {
    const utterance = unhandled.utterances[0] ?? ''
    this.log.info({ signal: unhandled.signal }, `asking the mesh: "${utterance}"`)
    const answer = await mesh.asks.ask(unhandled.utterances, unhandled.lang, this.init.askTimeoutMs)
    if (answer.status === 'answered') {
      const by = answer.answeredBy?.name ?? 'the mesh'
      this.log.info({ by }, `${by} answered "${utterance}": "${answer.speaks.map(speak => speak.utterance).join(' ')}"`)
      unhandled.answer(answer.speaks, by)
    } else {
      this.log.info({ status: answer.status, reason: answer.reason }, `the mesh has no answer to "${utterance}" (${answer.reason ?? answer.status}); the local assistant answers`)
      unhandled.giveBack()
    }
  }
}

/** A message's context without what addressed it on the sender's bus: the receiver addresses it anew. */
function addressless (message: BusMessage): Record<string, unknown> {
  return Object.fromEntries(Object.entries(message.context).filter(([key]) => !['session', 'destination', 'source', 'mesh'].includes(key)))
}

/** `auto`: the bus at the default address, or an embedded one when none answers there. */
async function connect (spec: string, log: Logger): Promise<Connection> {
  const embeddedPort = /^embedded(?::(\d+))?$/.exec(spec)
  if (embeddedPort !== null) return attachTo(await hostBus(Number(embeddedPort[1] ?? DEFAULT_BUS_PORT)))
  if (spec === 'auto' && !await probeBus(DEFAULT_BUS_URL)) {
    log.info('no messagebus at the default address: hosting one')
    return attachTo(await hostBus(DEFAULT_BUS_PORT))
  }
  return { client: new BusClient({ url: spec === 'auto' ? DEFAULT_BUS_URL : spec, log }) }

  async function hostBus (port: number): Promise<EmbeddedBus> {
    const bus = new EmbeddedBus({ port, log })
    try {
      await bus.start()
    } catch (err) {
      throw new UserError(`cannot host the embedded messagebus on 127.0.0.1:${port}: ${errorMessage(err)}; pick another port with --bus embedded:PORT, or --bus none`)
    }
    return bus
  }
}

function attachTo (embedded: EmbeddedBus): Connection {
  return { client: embedded.attach(), embedded }
}

/** Resolves true once the bus is connected, false when `timeoutMs` passed first. */
async function connectedWithin (client: MessageBus, timeoutMs: number): Promise<boolean> {
  if (client.state === 'connected') return true
  return new Promise(resolve => {
    const timer = setTimeout(() => { stopListening(); resolve(false) }, timeoutMs)
    const stopListening = client.onConnected(() => { clearTimeout(timer); stopListening(); resolve(true) })
  })
}
