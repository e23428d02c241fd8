import { setBounded } from '../../common/index.ts'
import { MAX_REMEMBERED_HANDSHAKE_FAILURES } from './constants.ts'
import type { Connection } from '@libp2p/interface'

export interface DoorInit {
  /** how long after a failed handshake another try costs the peer its connection */
  windowMs: number
  /** does the peer of this connection hold a link on it (as this node's parent, or as a welcomed child)? */
  hasLinkOn: (connection: Connection) => boolean
  counters: { hungUp: number }
}

/**
 * The link's door: who broke a handshake lately, and hanging up the whole connection of a peer this node refused,
 * right after the error frame, so that refused strangers cannot fill the slots the house needs. A connection that
 * carries a link stays.
 */
export class Door {
  private readonly init: DoorInit
  /** peers whose last link ended before a readable hello, and when */
  private readonly failed = new Map<string, number>()

  constructor (init: DoorInit) {
    this.init = init
  }

  /** Tried again right after a failed handshake: the connection goes, and true says so. */
  barred (peerId: string, connection: Connection): boolean {
    const failedAt = this.failed.get(peerId)
    if (failedAt === undefined || Date.now() - failedAt >= this.init.windowMs || this.init.hasLinkOn(connection)) return false
    this.hangUp(connection, 'another link right after a failed handshake')
    return true
  }

  failedHandshake (peerId: string): void {
    setBounded(this.failed, peerId, Date.now(), MAX_REMEMBERED_HANDSHAKE_FAILURES)
  }

  hangUp (connection: Connection, reason: string): void {
    if (this.init.hasLinkOn(connection) || connection.status !== 'open') return
    this.init.counters.hungUp++
    connection.close({ signal: AbortSignal.timeout(1_000) }).catch(() => { connection.abort(new Error(reason)) })
  }
}
