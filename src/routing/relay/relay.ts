import { randomUUID } from 'node:crypto'
import { errorMessage, LogLimiter, setBounded, type Logger } from '../../common/index.ts'
import { Mailbox, type RoomMail } from './mailbox.ts'
import { serviceCapabilities, serviceDependencies, type PrivateKey } from '@libp2p/interface'
import { forgery, LinkKindService, parseUntrusted, signAsOrigin, RemoteError, type Envelope, type LinkSession, type MycroftMessage, type Need } from '../link/index.ts'
import { MAX_REMEMBERED_REFUSALS, REFUSAL_MEMORY_MS, MAIL_COUNTERS, MAIL_RETRY_MS, MAIL_WINDOW_MS, RELAY_CAPABILITY, RELAY_COUNTERS, RELAY_PURPOSE, RELAY_TIMEOUT_MS, RelayKind, ROOM_ANSWER_MS, SEEN_RELAYS } from './constants.ts'
import { ConsentSchema, OutcomeSchema, SignedRelaySchema, type Outcome, type SignedRelay } from './messages.ts'
import type { RelayComponents, RelayInit, RoomRelay } from './index.ts'
import type { Directory } from '../directory/index.ts'

const RELAY_NEED: Need = { permission: RELAY_CAPABILITY }

/** What a room sends another: a message for its bus, a question for its assistant, a notice about its mail. */
type Payload =
  | { message: MycroftMessage, ttlMs?: number }
  | { question: { utterances: string[], lang: string } }
  | { notice: { about: string, status: 'delivered' | 'expired', room: string } }

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
  readonly kinds = [RelayKind.relay, RelayKind.consent]

  private readonly peerId: string
  private readonly privateKey: PrivateKey
  private readonly directory: Directory
  private readonly init: RelayInit
  private readonly log: Logger
  private readonly repeats: LogLimiter
  private readonly counters
  private readonly mailCounters
  private readonly mailbox?: Mailbox
  /** ids of messages this room took, so that a copy (a redelivery, a replay) is not spoken twice */
  private readonly taken = new Map<string, number>()
  /** "not a friend" answers of rooms below, by sender and room, until when: a refused sender cannot make a room decide again and again */
  private readonly refusals = new Map<string, { until: number, outcome: Outcome }>()
  /** ids of this room's messages that wait for a room that is away, and for which room */
  private readonly awaiting = new Map<string, string>()
  /** rooms whose waiting mail is being delivered now */
  private readonly delivering = new Set<string>()
  private mailTimer?: ReturnType<typeof setInterval>
  private unsubscribe?: () => void

  constructor (components: RelayComponents, init: RelayInit) {
    super(components.link)
    this.peerId = components.peerId.toString()
    this.privateKey = components.privateKey
    this.directory = components.directory
    this.init = init
    this.log = init.log
    this.repeats = new LogLimiter(init.log)
    this.counters = init.figures.counters('relay', RELAY_COUNTERS)
    this.mailCounters = init.figures.counters('mail', MAIL_COUNTERS)
    if (init.mail !== undefined) {
      const mailbox = new Mailbox(init.mail.path, init.mail.limits)
      this.mailbox = mailbox
      init.figures.reading('mail', () => ({ waiting: mailbox.size }))
    }
  }

  override async start (): Promise<void> {
    await super.start()
    await this.mailbox?.load()
    if (this.mailbox === undefined) return
    this.unsubscribe = this.link.onChange(() => { void this.deliverWaiting() })
    this.mailTimer = setInterval(() => { void this.deliverWaiting() }, MAIL_RETRY_MS)
    this.mailTimer.unref()
  }

  override stop (): void {
    super.stop()
    this.unsubscribe?.()
    clearInterval(this.mailTimer)
  }

  mail (): RoomMail[] {
    return this.mailbox?.list() ?? []
  }

  /** A message for this very room: its type must be allowed the peer it came from; anything else: `relay`. */
  needs (envelope: Envelope): Need {
    const body = envelope.body as { to?: unknown, message?: { type?: unknown } } | undefined
    if (body?.to !== this.init.name || body.message === undefined) return RELAY_NEED
    return { busType: typeof body.message.type === 'string' ? body.message.type : '' }
  }

  async send (to: string, message: MycroftMessage, { ttlMs }: { ttlMs?: number } = {}): Promise<Outcome> {
    this.counters.sent++
    return this.sendSigned(to, { message, ...(ttlMs === undefined ? {} : { ttlMs }) })
  }

  async ask (to: string, utterances: string[], lang: string): Promise<Outcome> {
    this.counters.sent++
    return this.sendSigned(to, { question: { utterances, lang } })
  }

  /** Signs (with the house's proof when this room holds the key) and routes; a refusal for want of friendship is told to the local skills too. */
  private async sendSigned (to: string, what: Payload): Promise<Outcome> {
    const id = randomUUID()
    const house = this.init.membership?.prove('mate', this.peerId, id)
    const outcome = await this.route(await signAsOrigin(this.privateKey, this.peerId, RELAY_PURPOSE, { id, to, from: this.init.name, ...(house === undefined ? {} : { house }), ...what }), [])
    if (outcome.code === 'not-a-friend') this.init.bus?.notify('connection.refused.warning', { to, reason: outcome.reason })
    if (outcome.status === 'queued') setBounded(this.awaiting, id, to, SEEN_RELAYS)
    return outcome
  }

  /** Tells the room that sent a message kept here how it ended (it listens only for ids it sent). */
  private tell (relayed: SignedRelay, status: 'delivered' | 'expired'): void {
    void this.sendSigned(relayed.from, { notice: { about: relayed.id, status, room: relayed.to } }).catch(() => {})
  }

  /** This room (or `to`, below it) changed its friends: what nodes on the way remember of its refusals (of `origin`, or all) goes. */
  consented (origin?: string, to = this.init.name): void {
    const parent = this.link.parent?.session
    if (parent?.supports(RELAY_CAPABILITY) === true) parent.send(RelayKind.consent, { to, ...(origin === undefined ? {} : { origin }) }).catch(() => {})
  }

  async handle (envelope: Envelope, session: LinkSession): Promise<void> {
    if (envelope.kind === RelayKind.consent) {
      const consent = parseUntrusted(ConsentSchema, envelope.body)
      if (!consent.success || this.link.children.get(session.remotePeer) === undefined) {
        session.violation(consent.success ? 'forbidden' : 'invalid', consent.success ? 'only a child says its room changed its friends' : 'unreadable consent', envelope.id)
        return
      }
      for (const key of this.refusals.keys()) if (key.endsWith(`>${consent.data.to}`) && (consent.data.origin === undefined || key.startsWith(`${consent.data.origin}>`))) this.refusals.delete(key)
      this.consented(consent.data.origin, consent.data.to)
      return
    }
    const relayed = parseUntrusted(SignedRelaySchema, envelope.body)
    const outcome: Outcome = relayed.success
      ? await this.route(relayed.data, envelope.route, session.remotePeer)
      : { status: 'error', reason: `relay field '${relayed.error.issues[0]?.path.join('.')}': ${relayed.error.issues[0]?.message}` }
    if (session.isOpen) await session.reply(envelope, RelayKind.relayed, outcome).catch(() => {})
  }

  /** A message or a question for this very room, handed to it by `via` (a peer id; undefined: sent by this room). */
  private async arrive (relayed: SignedRelay, via?: string): Promise<Outcome> {
    // what the nodes on the way added is not signed; mail kept while this room was away may be as old as mail lives
    const { held, outside, ...signed } = relayed as SignedRelay & { held?: true, outside?: true }
    const forged = await forgery(RELAY_PURPOSE, signed, held === true ? { windowMs: MAIL_WINDOW_MS } : {})
    if (forged !== undefined) {
      this.counters.forged++
      const hop = via === undefined ? 'this node' : this.link.children.get(via)?.name ?? (this.link.parent?.peerId === via ? this.link.parent.welcome.name : via)
      this.repeats.note(`forged:${relayed.origin}`, 'warn', { origin: relayed.origin, from: relayed.from, via: hop }, `refused a message said to be from ${relayed.from}, handed on by ${hop}: ${forged}`)
      return { status: 'refused', reason: `not taken as from ${relayed.from}: ${forged}` }
    }
    if ('notice' in relayed) return this.noticed(relayed.notice)
    if (this.taken.has(relayed.id)) {
      this.counters.duplicates++
      return { status: 'delivered', reason: 'this room had it already' }
    }
    const refusal = await this.consentTo(relayed, outside !== true)
    if (refusal !== undefined) return refusal
    setBounded(this.taken, relayed.id, relayed.at, SEEN_RELAYS)
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

  /** How a message of this room that waited ended: told to the local skills, for an id this room sent only. */
  private noticed (notice: { about: string, status: 'delivered' | 'expired', room: string }): Outcome {
    if (this.awaiting.get(notice.about) !== notice.room) return { status: 'refused', reason: 'this room sent no such message' }
    this.awaiting.delete(notice.about)
    this.log.info({ to: notice.room, id: notice.about }, `the message for ${notice.room} that waited was ${notice.status}`)
    this.init.bus?.notify(`mesh.mail.${notice.status}`, { to: notice.room, id: notice.about })
    return { status: 'delivered' }
  }

  /**
   * The recipient decides who may speak to it: housemates (proved by the house key, or — without one — anyone that
   * did not come from above the house) and its friends. Anyone else is refused, told so, and becomes a friend request.
   */
  private async consentTo (relayed: SignedRelay, fromWithin: boolean): Promise<Outcome | undefined> {
    const consent = this.init.consent
    if (consent === undefined) return undefined
    const { membership } = this.init
    const housemate = membership === undefined ? fromWithin : membership.holds(relayed.house, 'mate', relayed.origin, relayed.id)
    const type = 'message' in relayed ? relayed.message.type : 'ask'
    if (consent.allows(relayed.origin, type, housemate)) return undefined
    this.counters.notFriends++
    if (await consent.attempted(relayed.origin, relayed.from)) {
      this.log.warn({ origin: relayed.origin, from: relayed.from }, `${relayed.from} (${relayed.origin}), not a friend of this room, tried to reach it; \`mycroft-mesh friend accept ${relayed.from}\` lets it`)
      this.init.bus?.notify('connection.attempt.warning', { from: relayed.origin, name: relayed.from })
      this.init.bus?.notify('mesh.friend.request', { peer: relayed.origin, name: relayed.from })
    }
    return { status: 'refused', code: 'not-a-friend', reason: `${this.init.name} takes no ${type === 'ask' ? 'questions' : 'messages'} from ${relayed.from}: it is not of its house nor one of its friends` }
  }

  /** A room of this house that is away: a message waits for it here (where there is a mailbox); a question cannot. */
  private async keep (relayed: SignedRelay): Promise<Outcome> {
    const away = `${relayed.to} is a room of this house, but it is not linked now`
    if (this.mailbox === undefined || !('message' in relayed)) return { status: 'offline', reason: away }
    const kept = await this.mailbox.hold({ ...relayed, held: undefined })
    if (!kept.held) {
      this.mailCounters.refusedFull++
      return { status: 'refused', reason: `${away}, and it cannot wait here: ${kept.reason}` }
    }
    this.mailCounters.held++
    this.log.info({ to: relayed.to, from: relayed.from }, `keeping a message from ${relayed.from} until ${relayed.to} is back`)
    return { status: 'queued', reason: `${away}; it gets the message when it is back` }
  }

  /** The rooms that are back get what waited for them, oldest first, each message once; expired mail is let go. */
  private async deliverWaiting (): Promise<void> {
    const mailbox = this.mailbox
    if (mailbox === undefined) return
    for (const relayed of await mailbox.expire()) {
      this.mailCounters.expired++
      this.log.warn({ to: relayed.to, from: relayed.from }, `a message from ${relayed.from} for ${relayed.to} expired: the room was away for as long as mail waits`)
      this.tell(relayed, 'expired')
    }
    for (const room of mailbox.recipients()) {
      const holder = this.directory.holderOf(room)
      if (holder === undefined || 'offline' in holder || this.delivering.has(room)) continue
      this.delivering.add(room)
      try {
        for (let next = mailbox.next(room); next !== undefined; next = mailbox.next(room)) {
          const outcome = await this.route({ ...next, held: true }, [])
          if (outcome.status === 'offline' || outcome.status === 'queued' || outcome.status === 'error') break
          if (outcome.status === 'delivered') {
            this.mailCounters.deliveredLater++
            this.tell(next, 'delivered')
          } else this.log.warn({ to: room, status: outcome.status, reason: outcome.reason }, `a message that waited for ${room} could not be delivered (${outcome.reason ?? outcome.status}); it is let go`)
          await mailbox.done(room, next.id)
        }
      } finally {
        this.delivering.delete(room)
      }
    }
  }

  private async route (relayed: SignedRelay, route: string[], cameFrom?: string): Promise<Outcome> {
    if (route.includes(this.peerId)) return { status: 'error', reason: `the message came back to ${this.init.name} (a loop)` }
    const holder = this.directory.holderOf(relayed.to)
    const fromAbove = this.init.top && cameFrom !== undefined && cameFrom === this.link.parent?.peerId
    if (holder?.self === true) return this.arrive(fromAbove ? { ...relayed, outside: true } : relayed, cameFrom)
    if (holder !== undefined && 'offline' in holder) return this.keep(relayed)
    const child = holder === undefined ? undefined : this.link.children.get(holder.childPeerId)
    // a room this house does not have may be in another house under the same parent: up it goes
    const next = child?.session ?? this.link.parent?.session
    if (next === undefined || next.remotePeer === cameFrom) {
      this.counters.noSuchRoom++
      return { status: 'no-such-room', reason: `this house has no room named '${relayed.to}' linked now; \`mycroft-mesh rooms\` lists them` }
    }
    if (!next.supports(RELAY_CAPABILITY)) return { status: 'refused', reason: `the way to '${relayed.to}' passes a node that does not relay` }
    const refusalKey = `${relayed.origin}>${relayed.to}`
    const remembered = this.refusals.get(refusalKey)
    if (remembered !== undefined && remembered.until > Date.now()) {
      this.counters.refusedAsBefore++
      return remembered.outcome
    }
    this.counters.passedOn += cameFrom === undefined ? 0 : 1
    try {
      // the top of a house marks what comes down into it from above: its rooms tell housemates from the rest
      const passed = fromAbove ? { ...relayed, outside: true as const } : relayed
      const reply = await next.request(RelayKind.relay, passed, { route: [...route, this.peerId], timeoutMs: RELAY_TIMEOUT_MS })
      const outcome = parseUntrusted(OutcomeSchema, reply.body)
      if (!outcome.success) return { status: 'error', reason: 'an unreadable answer on the way' }
      // remembered only on the room's own way up, which is where the room's consent comes to clear it
      if (outcome.data.code === 'not-a-friend' && cameFrom !== undefined && child !== undefined) setBounded(this.refusals, refusalKey, { until: Date.now() + REFUSAL_MEMORY_MS, outcome: outcome.data }, MAX_REMEMBERED_REFUSALS)
      return outcome.data
    } catch (err) {
      if (err instanceof RemoteError) return { status: 'refused', reason: err.message }
      return { status: 'error', reason: errorMessage(err) }
    }
  }
}
