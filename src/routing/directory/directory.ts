import { errorMessage, type Logger } from '../../common/index.ts'
import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { LinkKindService, parseUntrusted, type Envelope, type LinkSession } from '../link/index.ts'
import { DIRECTORY_CAPABILITY, DIRECTORY_COUNTERS, DirectoryKind, LIST_TIMEOUT_MS, MAX_ROOMS, REPORT_DELAY_MS } from './constants.ts'
import { RoomListSchema, SubtreeReportSchema, type Room } from './messages.ts'
import type { Directory, DirectoryComponents, DirectoryInit, Holder } from './index.ts'

const sameRoom = (a: Room | undefined, b: Room): boolean => a !== undefined && a.name === b.name && a.parent === b.parent && a.state === b.state

/**
 * The house's directory. A child reports its whole subtree once its link is up, then only what changed; the top of
 * the house answers `rooms` with everything below it, and a node below the top asks its parent.
 */
export class DirectoryService extends LinkKindService implements Directory {
  readonly [Symbol.toStringTag] = 'mycroft-mesh/directory'
  readonly [serviceCapabilities] = ['@mycroft-mesh/directory']
  readonly [serviceDependencies] = ['@mycroft-mesh/link']
  readonly capability = DIRECTORY_CAPABILITY
  readonly kinds = [DirectoryKind.subtree, DirectoryKind.rooms]

  private readonly self: Room
  private readonly init: DirectoryInit
  private readonly log: Logger
  private readonly counters
  /** what each linked child reported of the rooms below it, by peer id */
  private readonly reports = new Map<string, Map<string, Room>>()
  /** what this node last told its parent, and on which link */
  private reported = new Map<string, Room>()
  private reportedTo?: LinkSession
  private reportTimer?: ReturnType<typeof setTimeout>
  private unsubscribe?: () => void

  constructor (components: DirectoryComponents, init: DirectoryInit) {
    super(components.link)
    this.init = init
    this.log = init.log
    this.self = { name: init.name, peerId: components.peerId.toString(), parent: '', state: 'linked' }
    this.counters = init.figures.counters('directory', DIRECTORY_COUNTERS)
  }

  override async start (): Promise<void> {
    await super.start()
    this.unsubscribe = this.link.onChange(() => { this.scheduleReport() })
  }

  override stop (): void {
    super.stop()
    this.unsubscribe?.()
    clearTimeout(this.reportTimer)
  }

  needs (): undefined {
    return undefined
  }

  async handle (envelope: Envelope, session: LinkSession): Promise<void> {
    if (envelope.kind === DirectoryKind.rooms) {
      await session.reply(envelope, DirectoryKind.roomList, { rooms: await this.rooms() }).catch(() => {})
      return
    }
    const child = this.link.children.get(session.remotePeer)
    if (child === undefined) {
      session.violation('forbidden', 'only a child reports its subtree', envelope.id)
      return
    }
    const report = parseUntrusted(SubtreeReportSchema, envelope.body)
    if (!report.success) {
      session.violation('invalid', `subtree field '${report.error.issues[0]?.path.join('.')}': ${report.error.issues[0]?.message}`, envelope.id)
      return
    }
    this.counters.reportsReceived++
    const { rooms, gone } = report.data
    const known = gone === undefined ? new Map<string, Room>() : this.reports.get(child.peerId) ?? new Map<string, Room>()
    for (const peerId of gone ?? []) known.delete(peerId)
    for (const room of rooms) if (known.size < MAX_ROOMS || known.has(room.peerId)) known.set(room.peerId, room)
    this.reports.set(child.peerId, known)
    this.scheduleReport()
  }

  async rooms (): Promise<Room[]> {
    const parent = this.link.parent
    if (this.init.top || parent === undefined || !parent.session.supports(DIRECTORY_CAPABILITY)) return [this.self, ...this.below()]
    try {
      const reply = await parent.session.request(DirectoryKind.rooms, {}, { timeoutMs: LIST_TIMEOUT_MS })
      const list = parseUntrusted(RoomListSchema, reply.body)
      if (list.success) return list.data.rooms
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'the parent did not list the house\'s rooms; listing this node\'s own subtree')
    }
    return [this.self, ...this.below()]
  }

  holderOf (name: string): Holder | undefined {
    if (name === this.self.name) return { self: true }
    for (const child of this.link.children.values()) {
      const below = [...this.reports.get(child.peerId)?.values() ?? []].find(room => room.name === name)
      if (child.name === name || below?.state === 'linked') return { self: false, childPeerId: child.peerId }
      if (below !== undefined) return { self: false, offline: true }
    }
    return this.offlineChildren().some(room => room.name === name) ? { self: false, offline: true } : undefined
  }

  /** Every room below this node: each linked child and what it reported below itself, then the known ones offline. */
  below (): Room[] {
    const rooms: Room[] = []
    for (const child of this.link.children.values()) {
      rooms.push({ name: child.name, peerId: child.peerId, parent: this.self.name, state: 'linked' }, ...(this.reports.get(child.peerId)?.values() ?? []))
    }
    return [...rooms, ...this.offlineChildren()].slice(0, MAX_ROOMS)
  }

  private offlineChildren (): Room[] {
    return (this.init.known?.() ?? [])
      .filter(peer => !this.link.children.has(peer.peerId))
      .map(peer => ({ name: peer.name, peerId: peer.peerId, parent: this.self.name, state: 'offline' as const }))
  }

  private scheduleReport (): void {
    for (const peerId of this.reports.keys()) if (!this.link.children.has(peerId)) this.reports.delete(peerId)
    if (this.reportTimer !== undefined) return
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined
      const parent = this.link.parent
      if (parent === undefined || !parent.session.supports(DIRECTORY_CAPABILITY)) return
      const current = new Map(this.below().map(room => [room.peerId, room]))
      const fresh = this.reportedTo !== parent.session
      const rooms = fresh ? [...current.values()] : [...current.values()].filter(room => !sameRoom(this.reported.get(room.peerId), room))
      const gone = fresh ? undefined : [...this.reported.keys()].filter(peerId => !current.has(peerId))
      this.reported = current
      this.reportedTo = parent.session
      if (!fresh && rooms.length === 0 && gone?.length === 0) return
      this.counters.reportsSent++
      this.counters.roomsSent += rooms.length
      parent.session.send(DirectoryKind.subtree, gone === undefined ? { rooms } : { rooms, gone }).catch(() => {})
    }, REPORT_DELAY_MS)
    this.reportTimer.unref()
  }
}
