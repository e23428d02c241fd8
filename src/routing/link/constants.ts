export const LINK_PROTOCOL = '/mycroft-mesh/link/1.0.0'

/** The envelope version this node speaks; a frame with another `v` gets an `unsupported-version` error. */
export const ENVELOPE_VERSION = 1

/** Link frames carry questions and bus messages, never files: 256 KiB is generous. */
export const MAX_FRAME_BYTES = 256 * 1024

export const DEFAULT_TTL = 16
export const MAX_TTL = 64

export const HEARTBEAT_INTERVAL_MS = 5_000
/**
 * A link that sent something and has heard nothing back pings after one interval, and is declared dead after
 * this many: two (10 s) find a dead link within 15 s with a message in flight, where TCP itself would retransmit
 * for minutes. An idle link is left to TCP's keep-alive (see TCP_KEEPALIVE_IDLE_MS in the node's stack).
 */
export const MISSED_BEATS = 2
/**
 * An idle link's child end still pings once in this many intervals (2 min by default): TCP's keep-alive is
 * answered by the kernel of a process that hangs, and this ping by the process itself.
 */
export const QUIET_BEATS = 24
/**
 * Said in hello and welcome by a node whose idle links stay quiet. A parent that does not say it drops a link
 * silent for two intervals, so a child keeps pinging it every interval, as nodes did before.
 */
export const QUIET_LINKS = 'quiet-links'
export const HANDSHAKE_TIMEOUT_MS = 10_000
/** How long a write may wait for the other side to read before the link is given up. */
export const DRAIN_TIMEOUT_MS = 10_000
export const REQUEST_TIMEOUT_MS = 10_000
export const CLOSE_TIMEOUT_MS = 1_000

/** Error frames a link sends at most, on average and at once: a flood of bad frames is not answered one for one. */
export const ERROR_REPLIES_PER_SECOND = 5
export const ERROR_REPLY_BURST = 20

/** Peers whose handshake failed, remembered at most (so that a second try at once costs the connection). */
export const MAX_REMEMBERED_HANDSHAKE_FAILURES = 1024
/** A subtree that grew or shrank is reported to the parent this much later, in one report. */
export const SUBTREE_REPORT_DELAY_MS = 200

export const MAX_INBOUND_LINKS_PER_CONNECTION = 2
export const MAX_OUTBOUND_LINKS_PER_CONNECTION = 2

/** What the link figures in status count. */
export const LINK_COUNTERS = {
  unknownKinds: 'frames of a kind no capability serves',
  unknownReplies: 'replies that name no request waiting on this node (late or forged)',
  refusedChildren: 'hellos refused',
  hungUp: 'connections hung up after a refused or failed handshake'
}
