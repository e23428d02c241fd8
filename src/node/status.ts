import type { ParentStatus } from './parent-link.ts'
import type { ChildLink } from '../routing/index.ts'

export interface ChildStatus {
  peerId: string
  name: string
  addr: string
  since: string
  rttMs: number | null
  /** the nodes it speaks for, itself included */
  subtree: number
}

/** What `status` shows: the node itself, then every section of figures its capabilities registered. */
export interface CoreStatus {
  peerId: string
  name: string
  version: string
  home: string
  addrs: string[]
  startedAt: string
  parent: ParentStatus
  children: ChildStatus[]
  process: { pid: number, rssBytes: number, heapUsedBytes: number }
}

/** The sections (asks, access, bus, link …) are whatever the parts registered; none is named here. */
export interface NodeStatus extends CoreStatus {
  [section: string]: unknown
}

export function childStatus (child: ChildLink): ChildStatus {
  return {
    peerId: child.peerId,
    name: child.name,
    addr: child.remoteAddr,
    since: new Date(child.since).toISOString(),
    rttMs: child.session.rttMs ?? null,
    subtree: child.subtree
  }
}

export function processStatus (): CoreStatus['process'] {
  return { pid: process.pid, rssBytes: process.memoryUsage.rss(), heapUsedBytes: process.memoryUsage().heapUsed }
}
