import { randomUUID } from 'node:crypto'
import { LogLimiter, setBounded, TokenBucket, type Logger } from '../../common/index.ts'
import { serviceCapabilities, serviceDependencies, type PrivateKey } from '@libp2p/interface'
import { forgery, LinkKindService, parseUntrusted, signAsOrigin, type Envelope, type LinkSession, type MycroftMessage, type Need } from '../link/index.ts'
import {
  ANNOUNCE_BURST, ANNOUNCE_PER_SECOND, BROADCAST_CAPABILITY, BROADCAST_COUNTERS, BROADCAST_PURPOSE, BroadcastKind, MAX_ORIGINS, SEEN_IDS
} from './constants.ts'
import { AnnouncementSchema, type Announcement } from './messages.ts'
import type { AnnounceOutcome, Broadcast, BroadcastComponents, BroadcastInit } from './index.ts'

const BROADCAST_NEED: Need = { permission: BROADCAST_CAPABILITY }

/**
 * Announcements: a room sends one up; each node passes it up until the top of the house, which speaks it and sends
 * it down to every child; each node below speaks it and passes it on down. Nobody speaks one twice (ids are
 * remembered) and the room it came from never hears it back.
 */
export class BroadcastService extends LinkKindService implements Broadcast {
  readonly [Symbol.toStringTag] = 'mycroft-mesh/broadcast'
  readonly [serviceCapabilities] = ['@mycroft-mesh/broadcast']
  readonly [serviceDependencies] = ['@mycroft-mesh/link']
  readonly capability = BROADCAST_CAPABILITY
  readonly permission = BROADCAST_CAPABILITY
  readonly kinds = [BroadcastKind.broadcast]

  private readonly peerId: string
  private readonly privateKey: PrivateKey
  private readonly init: BroadcastInit
  private readonly log: Logger
  private readonly counters
  private readonly seen = new Set<string>()
  private readonly repeats: LogLimiter
  /** this node's own announcements, at a human pace */
  private readonly own = new TokenBucket(ANNOUNCE_PER_SECOND, ANNOUNCE_BURST)
  /** each origin's announcements passing through: a room that floods cannot make the house speak its flood */
  private readonly origins = new Map<string, TokenBucket>()

  constructor (components: BroadcastComponents, init: BroadcastInit) {
    super(components.link)
    this.peerId = components.peerId.toString()
    this.privateKey = components.privateKey
    this.init = init
    this.log = init.log
    this.counters = init.figures.counters('broadcast', BROADCAST_COUNTERS)
    this.repeats = new LogLimiter(init.log)
  }

  /** Either way, up from a child or down from the parent: `broadcast` (a parent has it by default). */
  needs (): Need {
    return BROADCAST_NEED
  }

  async announce (message: MycroftMessage): Promise<AnnounceOutcome> {
    if (!this.own.take()) {
      this.counters.overRate++
      return { status: 'rate-limited', reason: `more than ${ANNOUNCE_BURST} announcements at once, or ${ANNOUNCE_PER_SECOND} a second; try again in ${Math.ceil(this.own.waitMs() / 1000)} s` }
    }
    this.counters.announced++
    return { status: 'sent', rooms: await this.pass(await signAsOrigin(this.privateKey, this.peerId, BROADCAST_PURPOSE, { id: randomUUID(), from: this.init.name, message })) }
  }

  async handle (envelope: Envelope, session: LinkSession): Promise<void> {
    const announcement = parseUntrusted(AnnouncementSchema, envelope.body)
    if (!announcement.success) {
      session.violation('invalid', `broadcast field '${announcement.error.issues[0]?.path.join('.')}': ${announcement.error.issues[0]?.message}`, envelope.id)
      return
    }
    const forged = await forgery(BROADCAST_PURPOSE, announcement.data)
    if (forged !== undefined) {
      this.counters.forged++
      session.violation('forbidden', `announcement not taken as from ${announcement.data.from}: ${forged}`, envelope.id)
      return
    }
    if (!this.withinPace(announcement.data.origin)) {
      this.counters.overRate++
      this.repeats.note(`over-rate:${announcement.data.origin}`, 'warn', { origin: announcement.data.origin, from: announcement.data.from }, `dropped an announcement from ${announcement.data.from}: more than ${ANNOUNCE_BURST} at once, or ${ANNOUNCE_PER_SECOND} a second`)
      return
    }
    await this.pass(announcement.data, session)
  }

  /** Announcements travel down as well as up: only the first node from its origin has to hold a room to the pace. */
  private withinPace (origin: string): boolean {
    let bucket = this.origins.get(origin)
    if (bucket === undefined) {
      // a little more than the origin allows itself: what it sent within its pace always passes
      bucket = new TokenBucket(ANNOUNCE_PER_SECOND * 2, ANNOUNCE_BURST * 2)
      setBounded(this.origins, origin, bucket, MAX_ORIGINS)
    }
    return bucket.take()
  }

  /** Up towards the top, or (at the top, and from the parent) spoken here and sent down to every child. */
  private async pass (announcement: Announcement, cameFrom?: LinkSession): Promise<number> {
    if (!this.remember(announcement.id)) {
      this.counters.duplicates++
      return 0
    }
    const parent = this.link.parent
    const fromParent = cameFrom !== undefined && cameFrom === parent?.session
    if (!fromParent && !this.init.top && parent !== undefined) return this.sendTo([parent.session], announcement)
    if (announcement.from !== this.init.name) {
      this.counters.spoken++
      this.log.info({ from: announcement.from }, `${announcement.from} announced something to the house`)
      this.init.bus?.emitFromMesh(announcement.message, { name: announcement.from, peerId: announcement.origin })
    }
    const down = [...this.link.children.values()].map(child => child.session).filter(session => session !== cameFrom)
    return this.sendTo(down, announcement)
  }

  private async sendTo (sessions: LinkSession[], announcement: Announcement): Promise<number> {
    const willing = sessions.filter(session => session.supports(BROADCAST_CAPABILITY))
    await Promise.all(willing.map(async session => session.send(BroadcastKind.broadcast, announcement).catch(() => {})))
    return willing.length
  }

  private remember (id: string): boolean {
    if (this.seen.has(id)) return false
    this.seen.add(id)
    for (const old of this.seen) {
      if (this.seen.size <= SEEN_IDS) break
      this.seen.delete(old)
    }
    return true
  }
}
