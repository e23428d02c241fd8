import { errorMessage, type Logger } from '../../common/index.ts'
import { serviceCapabilities, serviceDependencies, type PrivateKey } from '@libp2p/interface'
import { forgery, LinkKindService, parseUntrusted, signAsOrigin, RemoteError, type Envelope, type LinkSession, type MycroftMessage, type Need } from '../link/index.ts'
import { RELAY_CAPABILITY, RELAY_COUNTERS, RELAY_PURPOSE, RELAY_TIMEOUT_MS, RelayKind, ROOM_ANSWER_MS } from './constants.ts'
import { OutcomeSchema, SignedRelaySchema, type Outcome, type SignedRelay } from './messages.ts'
import type { RelayComponents, RelayInit, RoomRelay } from './index.ts'
import type { Directory } from '../directory/index.ts'

const RELAY_NEED: Need = { permission: RELAY_CAPABILITY }

/**
 * Room to room. Each hop needs the `relay` permission of the peer it came from; the last hop puts the message on
 * the room's bus only if the room lets that peer send its type.
 */
export class RelayService extends LinkKindService implements RoomRelay {
  readonly [Symbol.toStringTag] = 'mycroft-mesh/relay'
  readonly [serviceCapabilities] = ['@mycroft-mesh/relay']
  readonly [serviceDependencies] = ['@mycroft-mesh/link', '@mycroft-mesh/directory']
  readonly capability = RELAY_CAPABILITY
  readonly permission = RELAY_CAPABILITY
  readonly kinds = [RelayKind.relay]

  private readonly peerId: string
  private readonly privateKey: PrivateKey
  private readonly directory: Directory
  private readonly init: RelayInit
  private readonly log: Logger
  private readonly counters

  constructor (components: RelayComponents, init: RelayInit) {
    super(components.link)
    this.peerId = components.peerId.toString()
    this.privateKey = components.privateKey
    this.directory = components.directory
    this.init = init
    this.log = init.log
    this.counters = init.figures.counters('relay', RELAY_COUNTERS)
  }

  /** A message for this very room: its type must be allowed the peer it came from; anything else: `relay`. */
  needs (envelope: Envelope): Need {
    const body = envelope.body as { to?: unknown, message?: { type?: unknown } } | undefined
    if (body?.to !== this.init.name || body.message === undefined) return RELAY_NEED
    return { busType: typeof body.message.type === 'string' ? body.message.type : '' }
  }

  async send (to: string, message: MycroftMessage): Promise<Outcome> {
    this.counters.sent++
    return this.route(await signAsOrigin(this.privateKey, this.peerId, RELAY_PURPOSE, { to, from: this.init.name, message }), [])
  }

  async ask (to: string, utterances: string[], lang: string): Promise<Outcome> {
    this.counters.sent++
    return this.route(await signAsOrigin(this.privateKey, this.peerId, RELAY_PURPOSE, { to, from: this.init.name, question: { utterances, lang } }), [])
  }

  async handle (envelope: Envelope, session: LinkSession): Promise<void> {
    const relayed = parseUntrusted(SignedRelaySchema, envelope.body)
    const outcome: Outcome = relayed.success
      ? await this.route(relayed.data, envelope.route, session.remotePeer)
      : { status: 'error', reason: `relay field '${relayed.error.issues[0]?.path.join('.')}': ${relayed.error.issues[0]?.message}` }
    if (session.isOpen) await session.reply(envelope, RelayKind.relayed, outcome).catch(() => {})
  }

  /** A message or a question for this very room. */
  private async arrive (relayed: SignedRelay): Promise<Outcome> {
    const forged = await forgery(RELAY_PURPOSE, relayed)
    if (forged !== undefined) {
      this.counters.forged++
      this.log.warn({ origin: relayed.origin, from: relayed.from }, `refused a message said to be from ${relayed.from}: ${forged}`)
      return { status: 'refused', reason: `not taken as from ${relayed.from}: ${forged}` }
    }
    const askerPeerId = relayed.origin
    if ('question' in relayed) {
      if (this.init.assistant === undefined) return { status: 'no-answer', reason: `${this.init.name} has no assistant` }
      const speaks = await this.init.assistant.answer({ ...relayed.question, deadlineMs: ROOM_ANSWER_MS }, { peerId: askerPeerId, name: relayed.from, origin: askerPeerId }, AbortSignal.timeout(ROOM_ANSWER_MS))
      this.log.info({ from: relayed.from }, `answered ${relayed.from}'s question`)
      return speaks === undefined || speaks.length === 0 ? { status: 'no-answer', reason: `${this.init.name}'s assistant does not know` } : { status: 'answered', speaks }
    }
    if (this.init.bus === undefined) return { status: 'refused', reason: `${this.init.name} has no bus to speak on` }
    this.counters.delivered++
    this.log.info({ from: relayed.from, type: relayed.message.type }, `${relayed.from} sent this room a ${relayed.message.type}`)
    this.init.bus.emitFromMesh(relayed.message, { name: relayed.from, peerId: relayed.origin })
    return { status: 'delivered' }
  }

  private async route (relayed: SignedRelay, route: string[], cameFrom?: string): Promise<Outcome> {
    if (route.includes(this.peerId)) return { status: 'error', reason: `the message came back to ${this.init.name} (a loop)` }
    const holder = this.directory.holderOf(relayed.to)
    if (holder?.self === true) return this.arrive(relayed)
    if (holder !== undefined && 'offline' in holder) return { status: 'offline', reason: `${relayed.to} is a room of this house, but it is not linked now` }
    const child = holder === undefined ? undefined : this.link.children.get(holder.childPeerId)
    const next = child?.session ?? (this.init.top ? undefined : this.link.parent?.session)
    if (next === undefined || next.remotePeer === cameFrom) {
      this.counters.noSuchRoom++
      return { status: 'no-such-room', reason: `this house has no room named '${relayed.to}' linked now; \`mycroft-mesh rooms\` lists them` }
    }
    if (!next.supports(RELAY_CAPABILITY)) return { status: 'refused', reason: `the way to '${relayed.to}' passes a node that does not relay` }
    this.counters.passedOn += cameFrom === undefined ? 0 : 1
    try {
      const reply = await next.request(RelayKind.relay, relayed, { route: [...route, this.peerId], timeoutMs: RELAY_TIMEOUT_MS })
      const outcome = parseUntrusted(OutcomeSchema, reply.body)
      return outcome.success ? outcome.data : { status: 'error', reason: 'an unreadable answer on the way' }
    } catch (err) {
      if (err instanceof RemoteError) return { status: 'refused', reason: err.message }
      return { status: 'error', reason: errorMessage(err) }
    }
  }
}
