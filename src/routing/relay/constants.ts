/** The word in `hello`/`welcome`, and the permission a peer needs to have this node pass messages on. */
export const RELAY_CAPABILITY = 'relay'
export const RelayKind = { relay: 'relay', relayed: 'relayed' } as const
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
  forged: 'messages refused because their origin\'s signature did not verify'
}
