/** The word in `hello`/`welcome` of a node that takes Mycroft messages for its bus. */
export const BUS_CAPABILITY = 'bus'
export const BusKind = { bus: 'bus' } as const

/** What the bus figures in status count. */
export const BUS_DELIVERY_COUNTERS = {
  delivered: 'later messages passed on to children',
  fromParent: 'messages the parent put on this node\'s bus'
}
