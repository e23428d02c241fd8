/** The word in `hello`/`welcome`, and the permission a peer needs to announce through this node. */
export const BROADCAST_CAPABILITY = 'broadcast'
export const BroadcastKind = { broadcast: 'broadcast' } as const
/** What an origin's signature of an announcement is for. */
export const BROADCAST_PURPOSE = 'broadcast'
/** Announcements remembered by id, so that each is spoken once however it arrives. */
export const SEEN_IDS = 1_024

export const BROADCAST_COUNTERS = {
  announced: 'announcements this node made',
  spoken: 'announcements from other rooms put on this node\'s bus',
  duplicates: 'announcements dropped because they had come before',
  forged: 'announcements dropped because their origin\'s signature did not verify'
}
