/** The word in `hello`/`welcome`, and the permission a peer needs to announce through this node. */
export const BROADCAST_CAPABILITY = 'broadcast'
export const BroadcastKind = { broadcast: 'broadcast' } as const
/** What an origin's signature of an announcement is for. */
export const BROADCAST_PURPOSE = 'broadcast'
/** Announcements remembered by id, so that each is spoken once however it arrives. */
export const SEEN_IDS = 1_024
/** Announcements are a person's words to the whole house: at most a few at once, one a second after that. */
export const ANNOUNCE_PER_SECOND = 1
export const ANNOUNCE_BURST = 5
/** Origins whose pace is kept, at most. */
export const MAX_ORIGINS = 4_096

export const BROADCAST_COUNTERS = {
  announced: 'announcements this node made',
  spoken: 'announcements from other rooms put on this node\'s bus',
  duplicates: 'announcements dropped because they had come before',
  forged: 'announcements dropped because their origin\'s signature did not verify',
  overRate: 'announcements refused or dropped for coming faster than a house is spoken to'
}
