import { errorMessage, type Logger } from '../../common/index.ts'
import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { BUS_CAPABILITY, BusKind, BUS_DELIVERY_COUNTERS, PARENT } from './constants.ts'
import type { BusDelivery, BusDeliveryComponents, BusDeliveryInit, Recipient } from './index.ts'
import { LinkKindService, parseUntrusted, type Envelope, type LinkSession, type MycroftMessage, type Need } from '../link/index.ts'
import { BusEnvelopeSchema } from './messages.ts'

function typeOf (body: unknown): string {
  const type = (body as { message?: { type?: unknown } } | undefined)?.message?.type
  return typeof type === 'string' ? type : ''
}

/**
 * Mycroft messages between a parent's bus and a child's, both ways: a parent's skill addresses a child by
 * `context.destination` and the message is spoken there; a child's skill sends its parent a request (a picture
 * to classify) for the parent's skills to answer. Each message needs its type allowed for the sender.
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
    const parent = this.link.parent
    if (parent !== undefined && (nameOrPeerId === PARENT || nameOrPeerId === parent.peerId || nameOrPeerId === parent.welcome.name)) {
      return { peerId: parent.peerId, name: parent.welcome.name }
    }
    const child = this.link.child(nameOrPeerId)
    return child === undefined ? undefined : { peerId: child.peerId, name: child.name }
  }

  deliver (recipient: Recipient, message: MycroftMessage): void {
    const parent = this.link.parent
    const session = parent?.peerId === recipient.peerId ? parent.session : this.link.children.get(recipient.peerId)?.session
    if (session === undefined) return
    if (!session.supports(BUS_CAPABILITY)) {
      this.log.warn({ to: recipient.name, type: message.type }, `${recipient.name} takes no bus messages; dropped a ${message.type} for it`)
      return
    }
    this.counters[session === parent?.session ? 'toParent' : 'delivered']++
    session.send(BusKind.bus, { message }).catch((err: unknown) => {
      this.log.warn({ to: recipient.name, err: errorMessage(err) }, `could not pass a ${message.type} to ${recipient.name}`)
    })
  }

  /** A message a parent's skill addressed to this node, or a child's request for this node's skills. */
  handle (envelope: Envelope, session: LinkSession): void {
    const parent = this.link.parent
    const linked = this.link.children.get(session.remotePeer)
    const child = parent?.session !== session && linked?.session === session ? linked : undefined
    if (parent?.session !== session && child === undefined) {
      session.violation('forbidden', 'only a linked parent or child may send bus messages to this node')
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
    if (child !== undefined) {
      this.counters.fromChildren++
      this.log.debug({ type: message.type, child: child.name }, `${child.name} sent a ${message.type} for this node's skills`)
      this.init.bus.emitRequest(message, { name: child.name, peerId: child.peerId })
      return
    }
    if (parent === undefined) return
    this.counters.fromParent++
    this.log.debug({ type: message.type }, `${parent.welcome.name} sent a ${message.type} for this node's bus`)
    this.init.bus.emitFromMesh(message, { name: parent.welcome.name, peerId: parent.peerId })
  }
}
