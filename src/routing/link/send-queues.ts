import { readFileSync } from 'node:fs'
import type { Connection } from '@libp2p/interface'

/** Where Linux lists this network namespace's TCP sockets, each with the bytes its peer has not acknowledged. */
const SOCKET_TABLES = ['/proc/net/tcp', '/proc/net/tcp6']
const ESTABLISHED = '01'
const NOTHING_QUEUED = '00000000'

/** A link's TCP connection as the kernel's socket table names it: its local and remote ports, in hex. */
export type WireKey = string

/**
 * The TCP connection under a link, as the socket table names it; undefined when it is not one (another transport,
 * or a connection whose socket is already gone). A collision of two connections' ports costs one ping at most.
 */
export function wireKeyOf (connection: Connection): WireKey | undefined {
  // the TCP transport's connection keeps its socket; neither is part of libp2p's typed interface
  const socket = (connection as { maConn?: { socket?: { localPort?: number, remotePort?: number } } }).maConn?.socket
  if (socket?.localPort === undefined || socket.remotePort === undefined) return undefined
  return portsKey(socket.localPort.toString(16), socket.remotePort.toString(16))
}

function portsKey (localHex: string, remoteHex: string): WireKey {
  return `${localHex.toUpperCase().padStart(4, '0')}>${remoteHex.toUpperCase().padStart(4, '0')}`
}

/**
 * Which of this process's TCP connections hold bytes their peer has not acknowledged. TCP's keep-alive is silent
 * on such a connection (TCP retransmits instead, for up to a quarter of an hour), whichever stream wrote the
 * bytes; Node offers no TCP_USER_TIMEOUT to bound that, so the heartbeat asks the kernel's socket table, and a
 * link whose connection waits pings as one that sent a frame and heard nothing back. Where there is no such
 * table (not Linux), only the link's own frames are watched.
 */
export class SendQueues {
  private readonly tables: string[]

  constructor (tables = SOCKET_TABLES) {
    this.tables = tables
  }

  /** The established connections with bytes waiting for their peer's acknowledgement, now. */
  waiting (): Set<WireKey> {
    const waiting = new Set<WireKey>()
    for (const table of this.tables) {
      let text: string
      try {
        text = readFileSync(table, 'latin1')
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
