import { randomUUID } from 'node:crypto'
import type { Logger } from '../../common/index.ts'
import { serviceCapabilities, serviceDependencies, type PrivateKey } from '@libp2p/interface'
import { forgery, LinkKindService, parseUntrusted, signAsOrigin, type Envelope, type LinkSession, type MycroftMessage, type Need } from '../link/index.ts'
import { BROADCAST_CAPABILITY, BROADCAST_COUNTERS, BROADCAST_PURPOSE, BroadcastKind, SEEN_IDS } from './constants.ts'
import { AnnouncementSchema, type Announcement } from './messages.ts'
import type { Broadcast, BroadcastComponents, BroadcastInit } from './index.ts'

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

  constructor (components: BroadcastComponents, init: BroadcastInit) {
    super(components.link)
    this.peerId = components.peerId.toString()
    this.privateKey = components.privateKey
    this.init = init
    this.log = init.log
    this.counters = init.figures.counters('broadcast', BROADCAST_COUNTERS)
  }

  /** Either way, up from a child or down from the parent: `broadcast` (a parent has it by default). */
  needs (): Need {
    return BROADCAST_NEED
  }

  async announce (message: MycroftMessage): Promise<number> {
    this.counters.announced++
    return this.pass(await signAsOrigin(this.privateKey, this.peerId, BROADCAST_PURPOSE, { id: randomUUID(), from: this.init.name, message }))
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
    await this.pass(announcement.data, session)
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
