export const FILE_PROTOCOL = '/mycroft-mesh/file/1.0.0'

/** Transfer streams one connection may hold at once; more are reset by libp2p before they cost anything. */
export const MAX_INBOUND_TRANSFERS_PER_CONNECTION = 8
export const MAX_OUTBOUND_TRANSFERS_PER_CONNECTION = 8
/** Transfers one peer may have under way here at once, and all peers together; more are told `busy`. */
export const MAX_TRANSFERS_PER_PEER = 4
export const MAX_TRANSFERS = 32
export const BUSY_RETRY_MS = 1_000

/** An offer or a reply frame: a small JSON object. */
export const MAX_CONTROL_FRAME_BYTES = 4 * 1024
/** The offer must come this soon after the stream opens, and bytes must keep coming this often. */
export const OFFER_TIMEOUT_MS = 10_000
export const IDLE_TIMEOUT_MS = 30_000
/** How long the receiver may take to verify, flush and move a finished file before the sender gives up. */
export const FINISH_TIMEOUT_MS = 60_000

/** A receiver pauses the stream (yamux then withholds its window) while this much waits for the disk. */
export const RECEIVE_HIGH_WATER_BYTES = 1024 * 1024
/** yamux's largest stream window and the pause threshold: what may arrive at a paused stream */
export const PAUSED_ARRIVALS_BYTES = 17 * 1024 * 1024
/** The sender reads and hashes a file this much at a time */
export const READ_CHUNK_BYTES = 1024 * 1024
/**
 * and hands the stream this much at a time: each send goes whole into the connection's queue, where a question
 * on the same connection waits behind it, so small sends keep questions quick while a file crosses
 */
export const SEND_CHUNK_BYTES = 64 * 1024
/** The receiver flushes what it has and records it as verified this often: a broken transfer resumes from there. */
export const CHECKPOINT_BYTES = 16 * 1024 * 1024
/** Free disk a receiver keeps beside an accepted file. */
export const DISK_MARGIN_BYTES = 64 * 1024 * 1024

export const DEFAULT_FILE_LIMITS = {
  /** the largest file this node takes */
  maxFileBytes: 4 * 1024 * 1024 * 1024,
  /** what one peer's files (finished and partial) may hold of this node's disk */
  perPeerBytes: 8 * 1024 * 1024 * 1024,
  /** how long a partial file waits for its sender to come back and resume */
  partialTtlMs: 24 * 60 * 60 * 1000
}

/** A sender tries a broken transfer again (resuming where the receiver stands) for this long. */
export const RESUME_WITHIN_MS = 5 * 60 * 1000
export const RESUME_BACKOFF = { initialMs: 500, maxMs: 10_000 }

/** Finished and failed transfers kept in the list `files` shows. */
export const FINISHED_KEPT = 50
/** Bus progress notices: at most this often per transfer. */
export const PROGRESS_INTERVAL_MS = 500

export const FILE_COUNTERS = {
  sent: 'files sent whole',
  received: 'files received whole and verified',
  bytesSent: 'bytes of files sent',
  bytesReceived: 'bytes of files received',
  resumed: 'transfers resumed from a verified offset',
  refused: 'offers refused',
  failed: 'transfers that failed after they began',
  sweptPartials: 'partial files swept after waiting too long for their sender'
}
