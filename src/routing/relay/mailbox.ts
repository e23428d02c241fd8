import { readFile } from 'node:fs/promises'
import * as z from 'zod'
import { removeStaleTemps, writeFileAtomic } from '../../common/index.ts'
import { SignedRelaySchema, type SignedRelay } from './messages.ts'

export interface MailLimits {
  /** messages one room may have waiting */
  perRoom: number
  /** messages waiting in all */
  total: number
  /** bytes waiting in all (as stored) */
  bytes: number
  /** how long a message waits before it expires */
  ttlMs: number
}

export const DEFAULT_MAIL_LIMITS: MailLimits = { perRoom: 200, total: 1_000, bytes: 2 * 1024 * 1024, ttlMs: 24 * 3600_000 }

const HeldSchema = z.object({ heldAt: z.number(), expiresAt: z.number(), bytes: z.number(), relay: SignedRelaySchema })
type Held = z.infer<typeof HeldSchema>
const MailFileSchema = z.object({ version: z.literal(1), rooms: z.record(z.string(), z.array(HeldSchema)) })

/** What waits for one room, as `mail` lists it. */
export interface RoomMail {
  room: string
  count: number
  bytes: number
  oldest: string
}

export type HoldOutcome = { held: true } | { held: false, reason: string }

/**
 * Messages for rooms that are away, kept in the home (`mail.json`, written atomically before a sender is told
 * `queued`, so that even `kill -9` loses nothing), bounded per room and in all, each until its time to live ends.
 * One file for the lot: its bounds keep each rewrite small.
 */
export class Mailbox {
  private readonly path: string
  private readonly limits: MailLimits
  private rooms = new Map<string, Held[]>()
  private writing: Promise<void> = Promise.resolve()

  constructor (path: string, limits: MailLimits) {
    this.path = path
    this.limits = limits
  }

  /** Reads what waited when the node last stopped; a damaged file is set aside rather than trusted. */
  async load (): Promise<void> {
    await removeStaleTemps(this.path)
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch {
      return
    }
    const parsed = MailFileSchema.safeParse((() => { try { return JSON.parse(text) as unknown } catch { return undefined } })())
    if (!parsed.success) throw new Error(`the mail file ${this.path} is damaged; move it away to start with no mail waiting`)
    this.rooms = new Map(Object.entries(parsed.data.rooms))
  }

  get size (): number {
    let count = 0
    for (const held of this.rooms.values()) count += held.length
    return count
  }

  recipients (): string[] {
    return [...this.rooms.keys()]
  }

  list (): RoomMail[] {
    return [...this.rooms].map(([room, held]) => ({
      room,
      count: held.length,
      bytes: held.reduce((sum, one) => sum + one.bytes, 0),
      oldest: new Date(held[0]?.heldAt ?? 0).toISOString()
    }))
  }

  /** Keeps a message for `relay.to`, once it is on disk; a full mailbox says so and keeps what it holds. */
  async hold (relay: SignedRelay): Promise<HoldOutcome> {
    const bytes = Buffer.byteLength(JSON.stringify(relay))
    let outcome: HoldOutcome = { held: true }
    await this.change(rooms => {
      const waiting = rooms.get(relay.to) ?? []
      if (waiting.some(held => held.relay.id === relay.id)) return false
      if (waiting.length >= this.limits.perRoom) {
        outcome = { held: false, reason: `${relay.to} already has ${waiting.length} messages waiting, as many as a room may` }
        return false
      }
      const all = [...rooms.values()].flat()
      if (all.length >= this.limits.total || all.reduce((sum, one) => sum + one.bytes, 0) + bytes > this.limits.bytes) {
        outcome = { held: false, reason: 'the mailbox of this node is full' }
        return false
      }
      const now = Date.now()
      const ttlMs = Math.min(this.limits.ttlMs, 'ttlMs' in relay ? relay.ttlMs ?? Infinity : Infinity)
      rooms.set(relay.to, [...waiting, { heldAt: now, expiresAt: now + ttlMs, bytes, relay }])
      return true
    })
    return outcome
  }

  /** The oldest message waiting for `room`. */
  next (room: string): SignedRelay | undefined {
    return this.rooms.get(room)?.[0]?.relay
  }

  /** The message was delivered (or can never be): it is forgotten, on disk too. */
  async done (room: string, id: string): Promise<void> {
    await this.change(rooms => {
      const left = (rooms.get(room) ?? []).filter(held => held.relay.id !== id)
      if (left.length === 0) rooms.delete(room)
      else rooms.set(room, left)
      return true
    })
  }

  /** Forgets what waited past its time; returns those messages. */
  async expire (now = Date.now()): Promise<SignedRelay[]> {
    const expired = [...this.rooms.values()].flat().filter(held => held.expiresAt <= now).map(held => held.relay)
    if (expired.length === 0) return []
    await this.change(rooms => {
      for (const [room, held] of rooms) {
        const left = held.filter(one => one.expiresAt > now)
        if (left.length === 0) rooms.delete(room)
        else rooms.set(room, left)
      }
      return true
    })
    return expired
  }

  /**
   * Changes a copy and writes it, one change at a time; the mailbox in memory moves on only once the file holds it.
   * An edit returns whether it changed anything: when not, nothing is written.
   */
  private async change (edit: (rooms: Map<string, Held[]>) => boolean): Promise<void> {
    const run = this.writing.then(async () => {
      const next = new Map(this.rooms)
      if (!edit(next)) return
      await writeFileAtomic(this.path, JSON.stringify({ version: 1, rooms: Object.fromEntries(next) }))
      this.rooms = next
    })
    this.writing = run.catch(() => {})
    await run
  }
}
