/** The word in `hello`/`welcome` of a node that takes Mycroft messages for its bus. */
export const BUS_CAPABILITY = 'bus'
export const BusKind = { bus: 'bus' } as const
/** The name a local skill gives the parent, whatever the parent calls itself (`context.mesh.to`). */
export const PARENT = 'parent'

/** What the bus figures in status count. */
export const BUS_DELIVERY_COUNTERS = {
  delivered: 'later messages passed on to children',
  toParent: 'requests passed up to the parent for its skills',
  fromParent: 'messages the parent put on this node\'s bus',
  fromChildren: 'requests children sent for this node\'s skills'
}
