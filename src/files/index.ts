import { FileTransferService } from './file-transfer.ts'
import type { DEFAULT_FILE_LIMITS } from './constants.ts'
import type { FileErrorCode } from './messages.ts'
import type { InboxEntry } from './inbox.ts'
import type { Logger } from '../common/index.ts'
import type { FigureRegistry } from '../observe/index.ts'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export { FILE_PROTOCOL, DEFAULT_FILE_LIMITS } from './constants.ts'
export { carryFiles } from './carry.ts'
export type { InboxEntry } from './inbox.ts'

export type FileLimits = typeof DEFAULT_FILE_LIMITS

/** One transfer, either way, as `files` lists it. */
export interface TransferState {
  id: string
  direction: 'send' | 'receive'
  peer: string
  peerId: string
  name: string
  size: number
  bytes: number
  /** bytes per second over the last moments */
  rate: number
  state: 'under-way' | 'done' | 'failed' | 'cancelled'
  startedAt: string
  finishedAt?: string
  /** where the file lies on the receiver, once done */
  path?: string
  code?: FileErrorCode
  reason?: string
}

/** What a transfer's watchers hear: progress now and then, and its end. */
export type TransferEvent = { type: 'progress' | 'done' | 'failed', transfer: TransferState }

export interface FileTransferInit {
  /** where the inbox and the partial files live */
  dir: string
  log: Logger
  figures: FigureRegistry
  limits?: Partial<FileLimits>
  /** may this peer send files here? A peer this node does not link is refused `not-linked` */
  allowed?: (peerId: string) => { ok: true } | { ok: false, code: FileErrorCode, reason: string }
  /** the name this node knows a peer by */
  nameOf?: (peerId: string) => string
  onEvent?: (event: TransferEvent) => void
}

export interface FileTransferComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
}

export interface SendOptions {
  purpose?: string
  mediaType?: string
  signal?: AbortSignal
  /** keep trying a broken transfer (resuming) for this long; 0: one try */
  resumeWithinMs?: number
}

/** A file on its way: its id at once, its end when it comes. */
export interface Sending {
  id: string
  done: Promise<{ path: string, sha256: string, size: number }>
}

/** `/mycroft-mesh/file/1.0.0`: files between linked nodes, verified, resumable, never half-written under a final name. */
export interface FileTransfer {
  /** Sends a file to a peer; `done` rejects with a FileTransferError saying why it did not arrive. */
  send: (peerId: string, path: string, options?: SendOptions) => Sending
  /** Stops a transfer under way, either way; false when no such transfer is under way. */
  cancel: (id: string) => boolean
  transfers: () => TransferState[]
  inbox: () => InboxEntry[]
  /** The path a peer knows a file of this node's inbox by, when that peer sent it here. */
  originOf: (path: string, peerId: string) => string | undefined
}

/** `createLibp2p({ services: { files: fileTransfer(init) } })` */
export function fileTransfer (init: FileTransferInit): (components: FileTransferComponents) => FileTransfer {
  return (components) => new FileTransferService(components, init)
}
