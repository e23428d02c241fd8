import { sendQueues, type Wire } from './send-queues.ts'
import type { LinkSession } from './link-session.ts'

/** Which end of a link this node holds: the child end pings a quiet link, the parent end only answers it. */
export type LinkEnd = 'child' | 'parent'

interface Beaten {
  end: LinkEnd
  /** the link's TCP connection, when it has one */
  wire?: Wire
}

/**
 * One timer for all of a node's links. A timer per link would wake a hub with thousands of children thousands of
 * times an interval, each wake-up a system call of its own; this one ticks four times an interval and beats
 * every link in the same wake-up.
 */
export class Heartbeats {
  private readonly heartbeatMs: number
  private readonly links = new Map<LinkSession, Beaten>()
  private timer?: ReturnType<typeof setInterval>
  private lastTickAt = 0

  constructor (heartbeatMs: number) {
    this.heartbeatMs = heartbeatMs
  }

  add (session: LinkSession, end: LinkEnd, wire?: Wire): void {
    if (!session.isOpen || this.links.has(session)) return
    this.links.set(session, { end, wire })
    if (wire !== undefined) sendQueues.watch(wire)
    void session.closed.then(() => {
      this.links.delete(session)
      if (wire !== undefined) sendQueues.forget(wire)
    })
    if (this.timer !== undefined) return
    this.lastTickAt = Date.now()
    this.timer = setInterval(() => { this.tick() }, this.heartbeatMs / 4)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private tick (): void {
    const now = Date.now()
    // a tick that comes late means this node was too busy to listen: what the other side sent meanwhile is
    // still waiting to be read, so silence is judged at the next tick, not now
    const late = now - this.lastTickAt > this.heartbeatMs / 2
    this.lastTickAt = now
    void sendQueues.look(now, this.heartbeatMs)
    for (const [session, { end, wire }] of this.links) session.beat(end, now, late, wire)
  }
}
