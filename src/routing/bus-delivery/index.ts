import { BusDeliveryService } from './bus-delivery.ts'
import type { BUS_DELIVERY_COUNTERS } from './constants.ts'
export { PARENT } from './constants.ts'
import type { Logger } from '../../common/index.ts'
import type { FigureRegistry } from '../../observe/index.ts'
import type { Link, LocalBus, MycroftMessage } from '../link/index.ts'


/** What bus delivery adds to the `bus` section of status. */
export type BusDeliveryFigures = Record<keyof typeof BUS_DELIVERY_COUNTERS, number>

/** A child a message can be delivered to. */
export interface Recipient {
  peerId: string
  name: string
}

export interface BusDeliveryInit {
  log: Logger
  figures: FigureRegistry
  /** none: this node has no bus, and what a parent sends is dropped with a warning */
  bus?: LocalBus
}

export interface BusDeliveryComponents {
  link: Link
}

/** Mycroft messages over the link (`bus` envelopes): a parent's skill reaching a child's bus. */
export interface BusDelivery {
  /** A linked child by name or peer id. */
  recipient: (nameOrPeerId: string) => Recipient | undefined
  /** Puts a message on a child's bus. */
  deliver: (recipient: Recipient, message: MycroftMessage) => void
}

/** `createLibp2p({ services: { link: link(…), bus: busDelivery(init) } })`: needs the link service. */
export function busDelivery (init: BusDeliveryInit): (components: BusDeliveryComponents) => BusDelivery {
  return (components) => new BusDeliveryService(components, init)
}
