import { readFile } from 'node:fs/promises'
import type { Connection } from '@libp2p/interface'

/** Where Linux lists this network namespace's TCP sockets, each with the bytes its peer has not acknowledged. */
const SOCKET_TABLES = ['/proc/net/tcp', '/proc/net/tcp6']
const ESTABLISHED = '01'
const NOTHING_QUEUED = '00000000'

interface TcpSocket {
  readonly bytesWritten: number
  readonly localPort?: number
  readonly remotePort?: number
}

/** A link's TCP connection, as the kernel's socket table names it, and what the last look at the table saw. */
export interface Wire {
  /**
   * its local and remote ports, in hex: the table lists the whole network namespace, so another connection with
   * the same two ports (rare: another address) makes this one ping once an interval while that one waits
   */
  readonly key: string
  readonly socket: TcpSocket
  /** the socket had written this much when the table last showed nothing of it waiting */
  cleanAtBytes: number
  /**
   * the last look at the table that showed bytes of it waiting, the second in a row or later; and the look before
   * the first of them (the bytes came after that)
   */
  seenWaitingAt?: number
  waitingSince?: number
}

/** The TCP connection under a link; undefined when it is not one (another transport, or its socket is gone). */
export function wireOf (connection: Connection): Wire | undefined {
  // the TCP transport's connection keeps its socket; neither is part of libp2p's typed interface
  const socket = (connection as { maConn?: { socket?: TcpSocket } }).maConn?.socket
  if (socket?.localPort === undefined || socket.remotePort === undefined) return undefined
  return { key: portsKey(socket.localPort.toString(16), socket.remotePort.toString(16)), socket, cleanAtBytes: 0 }
}

/**
 * A TCP connection whose socket is not where `wireOf` looks: a version of @libp2p/tcp that moved it. Its link is
 * then judged by its own frames alone, and a file stuck in flight on it goes unseen until TCP gives up.
 */
export function hidesItsSocket (connection: Connection): boolean {
  const addr = connection.remoteAddr.toString()
  return /\/tcp\/\d+/.test(addr) && !addr.includes('/p2p-circuit') && wireOf(connection) === undefined
}

function portsKey (localHex: string, remoteHex: string): string {
  return `${localHex.toUpperCase().padStart(4, '0')}>${remoteHex.toUpperCase().padStart(4, '0')}`
}

/**
 * Which links' TCP connections hold bytes their peer has not acknowledged. TCP's keep-alive is silent on such a
 * connection (TCP retransmits instead, for up to a quarter of an hour), whichever stream wrote the bytes; Node
 * offers no TCP_USER_TIMEOUT to bound that, so the heartbeat asks the kernel's socket table, and a link whose
 * connection waits pings as one that sent a frame and heard nothing back. Reading the table costs the kernel a
 * walk of every socket (about 7 ms for a thousand), so it is read off the event loop, at most once an interval for
 * the whole process, and only when a link's socket wrote since the table last showed it clean: a node whose links
 * are all idle reads nothing (a hub whose children send their quiet pings reads it about once an interval).
 * Where there is no such table (not Linux), only the link's own frames are watched.
 */
export class SendQueues {
  private readonly tables: string[]
  private readonly wires = new Set<Wire>()
  private lastLookAt = 0
  private looking = false

  constructor (tables = SOCKET_TABLES) {
    this.tables = tables
  }

  watch (wire: Wire): void {
    this.wires.add(wire)
  }

  forget (wire: Wire): void {
    this.wires.delete(wire)
  }

  /**
   * Looks at the table if `everyMs` passed since the last look and a watched socket wrote since it was clean. The
   * table is read off the event loop (a hub's thousands of sockets take the kernel tens of ms to list), so what it
   * shows is recorded when the read ends, for the heartbeat's next tick; the promise settles then.
   */
  async look (now: number, everyMs: number): Promise<void> {
    if (this.looking || now - this.lastLookAt < everyMs) return
    const written = new Map<Wire, number>()
    for (const wire of this.wires) {
      const bytes = wire.socket.bytesWritten
      if (bytes !== wire.cleanAtBytes) written.set(wire, bytes)
    }
    const previousLookAt = this.lastLookAt
    this.lastLookAt = now
    if (written.size === 0) return
    this.looking = true
    try {
      const waiting = await this.waiting()
      for (const [wire, bytes] of written) {
        if (waiting.has(wire.key)) {
          // bytes unacknowledged at one look may be a delayed ACK (up to 200 ms); at two looks in a row, they wait
          if (wire.waitingSince !== undefined) wire.seenWaitingAt = now
          wire.waitingSince ??= previousLookAt
        } else {
          wire.cleanAtBytes = bytes
          wire.seenWaitingAt = wire.waitingSince = undefined
        }
      }
    } finally {
      this.looking = false
    }
  }

  /** The established connections with bytes waiting for their peer's acknowledgement, now. */
  async waiting (): Promise<Set<string>> {
    const waiting = new Set<string>()
    for (const table of this.tables) {
      let text: string
      try {
        text = await readFile(table, 'latin1')
      } catch {
        continue
      }
      for (const line of text.split('\n')) {
        // "  sl  local_address rem_address   st tx_queue:rx_queue …", addresses as HEXADDR:HEXPORT
        const [, local, remote, state, queues] = line.trim().split(/\s+/, 5)
        if (state !== ESTABLISHED || queues === undefined || queues.startsWith(NOTHING_QUEUED)) continue
        waiting.add(portsKey(local?.slice(local.lastIndexOf(':') + 1) ?? '', remote?.slice(remote.lastIndexOf(':') + 1) ?? ''))
      }
    }
    return waiting
  }
}

/** One for the process: a process with many nodes (a benchmark's swarm) still reads the table once an interval. */
export const sendQueues = new SendQueues()
