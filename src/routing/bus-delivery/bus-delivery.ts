import { errorMessage, type Logger } from '../../common/index.ts'
import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { BUS_CAPABILITY, BusKind, BUS_DELIVERY_COUNTERS } from './constants.ts'
import type { BusDelivery, BusDeliveryComponents, BusDeliveryInit, Recipient } from './index.ts'
import { LinkKindService, parseUntrusted, type Envelope, type LinkSession, type MycroftMessage, type Need } from '../link/index.ts'
import { BusEnvelopeSchema } from './messages.ts'

function typeOf (body: unknown): string {
  const type = (body as { message?: { type?: unknown } } | undefined)?.message?.type
  return typeof type === 'string' ? type : ''
}

/**
 * Mycroft messages between a parent's bus and a child's: a parent's skill addresses a child by
 * `context.destination` and the message is spoken there. Each message needs its type allowed for the sender.
 */
export class BusDeliveryService extends LinkKindService implements BusDelivery {
  readonly [Symbol.toStringTag] = 'mycroft-mesh/bus-delivery'
  readonly [serviceCapabilities] = ['@mycroft-mesh/bus-delivery']
  readonly [serviceDependencies] = ['@mycroft-mesh/link']
  readonly capability = BUS_CAPABILITY
  readonly kinds = [BusKind.bus]

  private readonly init: BusDeliveryInit
  private readonly log: Logger
  private readonly counters

  constructor (components: BusDeliveryComponents, init: BusDeliveryInit) {
    super(components.link)
    this.init = init
    this.log = init.log
    this.counters = init.figures.counters('bus', BUS_DELIVERY_COUNTERS)
  }

  needs (envelope: Envelope): Need {
    return { busType: typeOf(envelope.body) }
  }

  recipient (nameOrPeerId: string): Recipient | undefined {
    const child = this.link.child(nameOrPeerId)
    return child === undefined ? undefined : { peerId: child.peerId, name: child.name }
  }

  deliver (recipient: Recipient, message: MycroftMessage): void {
    const child = this.link.children.get(recipient.peerId)
    if (child === undefined) return
    if (!child.session.supports(BUS_CAPABILITY)) {
      this.log.warn({ child: child.name, type: message.type }, `${child.name} takes no bus messages; dropped a ${message.type} for it`)
      return
    }
    this.counters.delivered++
    child.session.send(BusKind.bus, { message }).catch((err: unknown) => {
      this.log.warn({ child: child.name, err: errorMessage(err) }, 'could not pass a message to a child')
    })
  }

  /** A message a parent's skill addressed to this node. */
  handle (envelope: Envelope, session: LinkSession): void {
    const parent = this.link.parent
    if (parent?.session !== session) {
      session.violation('forbidden', 'only a parent may send bus messages to this node')
      return
    }
    const parsed = parseUntrusted(BusEnvelopeSchema, envelope.body)
    if (!parsed.success) {
      session.violation('invalid', `bus field '${parsed.error.issues[0]?.path.join('.')}': ${parsed.error.issues[0]?.message}`)
      return
    }
    const { message } = parsed.data
    if (this.init.bus === undefined) {
      this.log.warn({ type: message.type }, 'the parent sent a bus message but this node has no bus')
      return
    }
    this.counters.fromParent++
    this.log.debug({ type: message.type }, `${parent.welcome.name} sent a ${message.type} for this node's bus`)
    this.init.bus.emitFromMesh(message, { name: parent.welcome.name, peerId: parent.peerId })
  }
}
