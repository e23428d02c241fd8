/** Hubs announce themselves under a tag of their house, derived from the house key; rooms only listen for it. */
export const HUB_TAG_PREFIX = '_mmhub-'
export const HUB_TAG_SUFFIX = '._udp.local'
/** How often a node asks for its house's hub again (mDNS answers are multicast: a new hub is seen at once). */
export const QUERY_INTERVAL_MS = 1_000
/** A node that answered for the house but could not prove it holds the key is not asked again for this long. */
export const DISPROVED_PAUSE_MS = 30_000

export const HOUSE_COUNTERS = {
  hubsSeen: 'times a hub of this house answered on mDNS',
  addressesIgnored: 'announced addresses not dialled: loopback, or not a TCP address'
}
