export const LINK_PROTOCOL = '/mycroft-mesh/link/1.0.0'

/** The envelope version this node speaks; a frame with another `v` gets an `unsupported-version` error. */
export const ENVELOPE_VERSION = 1

/** Link frames carry questions and bus messages, never files: 256 KiB is generous. */
export const MAX_FRAME_BYTES = 256 * 1024

export const DEFAULT_TTL = 16
export const MAX_TTL = 64

export const HEARTBEAT_INTERVAL_MS = 5_000
/** The link is declared dead after this many heartbeat intervals without a single frame from the other side. */
export const MISSED_BEATS = 3
export const HANDSHAKE_TIMEOUT_MS = 10_000
/** How long a write may wait for the other side to read before the link is given up. */
export const DRAIN_TIMEOUT_MS = 10_000
export const REQUEST_TIMEOUT_MS = 10_000
export const CLOSE_TIMEOUT_MS = 1_000

export const MAX_INBOUND_LINKS_PER_CONNECTION = 2
export const MAX_OUTBOUND_LINKS_PER_CONNECTION = 2

/** How long a node waits for the mesh to answer one of its own questions. */
export const ASK_DEADLINE_MS = 15_000
/** Each hop gives the next one this much less time, so that its own answer still arrives in time. */
export const HOP_MARGIN_MS = 250
/** Share of a hop's time its own assistant may take when an ancestor could still be asked. */
export const LOCAL_ANSWER_SHARE = 0.7
export const MAX_ASKS_IN_FLIGHT_PER_CHILD = 8
