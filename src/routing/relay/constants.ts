/** The word in `hello`/`welcome`, and the permission a peer needs to have this node pass messages on. */
export const RELAY_CAPABILITY = 'relay'
export const RelayKind = { relay: 'relay', relayed: 'relayed', consent: 'consent' } as const
/** What an origin's signature of a relayed message is for. */
export const RELAY_PURPOSE = 'relay'
export const RELAY_TIMEOUT_MS = 10_000
/** How long a room's assistant may take over a question asked of it by name: its answer must get back in time. */
export const ROOM_ANSWER_MS = 8_000

export const RELAY_COUNTERS = {
  sent: 'messages this node sent to another room',
  delivered: 'messages delivered on this node\'s bus from another room',
  passedOn: 'messages this node passed on towards their room',
  noSuchRoom: 'messages for a room this house does not have',
  forged: 'messages refused because their origin\'s signature did not verify',
  duplicates: 'copies of a message this room had already taken, dropped',
  notFriends: 'messages and questions refused: their sender is not of this house nor a friend',
  refusedAsBefore: 'messages refused on the way, as their room refused the same sender a moment ago'
}

/** How often mail waiting for rooms that are away is tried again (and as soon as any link comes or goes). */
export const MAIL_RETRY_MS = 10_000
/** Ids of messages a room took, remembered at most: a copy within them is dropped. */
export const SEEN_RELAYS = 4_096

export const MAIL_COUNTERS = {
  held: 'messages kept for rooms that were away',
  deliveredLater: 'of those, delivered once the room was back',
  expired: 'of those, let go when their time ran out',
  refusedFull: 'messages refused because the mailbox was full'
}
/** The longest a node keeps mail; a room takes held mail signed up to this long ago (and no older). */
export const MAX_MAIL_TTL_MS = 7 * 24 * 3600_000
export const MAIL_WINDOW_MS = MAX_MAIL_TTL_MS + 5 * 60_000
/** A room's "not a friend" is remembered on the way this long (or until the room changes its friends). */
export const REFUSAL_MEMORY_MS = 10 * 60_000
export const MAX_REMEMBERED_REFUSALS = 4_096
