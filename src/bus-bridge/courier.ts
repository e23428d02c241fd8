import { LogLimiter, errorMessage, type Logger } from '../common/index.ts'
import { DEFAULT_DELIVERED_TYPES, MESH_CONTEXT_KEY } from './constants.ts'
import { destinationsOf, isRecord, type BusMessage } from './message.ts'
import type { MessageBus } from './bus.ts'
import type { MeshDelivery, MeshFiles } from './index.ts'
import { PARENT, type PeerRef } from '../routing/index.ts'

export interface CourierInit {
  bus: MessageBus
  log: Logger
  delivery: MeshDelivery
  files: MeshFiles
  /** types a local skill may send a linked node by naming it in `context.destination` */
  deliveredTypes?: string[]
  /** types a local skill's requests carry up to the parent (or the node `context.mesh.to` names) */
  forwardTypes?: string[]
  /** a message this node's answerer is collecting for a child's question: not the courier's */
  collects: (message: BusMessage) => boolean
  notify: (type: string, data: Record<string, unknown>) => void
}

/** The node `context.mesh.to` names, when a local skill named one. */
function meshTo (message: BusMessage): string | undefined {
  const mesh = message.context.mesh
  return isRecord(mesh) && typeof mesh.to === 'string' ? mesh.to : undefined
}

/**
 * Carries local skills' messages to other nodes: a request of a forwarded type goes to the parent (or the node
 * `context.mesh.to` names), a later message of a delivered type to each linked node its `context.destination`
 * names; the files either names travel first, and the message arrives naming where they now lie. Messages to one
 * node keep their order.
 */
export class Courier {
  private readonly init: CourierInit
  private readonly repeats: LogLimiter
  private readonly queues = new Map<string, Promise<void>>()
  private unsubscribe?: () => void

  constructor (init: CourierInit) {
    this.init = init
    this.repeats = new LogLimiter(init.log)
  }

  start (): void {
    this.unsubscribe = this.init.bus.onMessage(message => { this.observe(message) })
  }

  stop (): void {
    this.unsubscribe?.()
  }

  private observe (message: BusMessage): void {
    const tag = message.context[MESH_CONTEXT_KEY]
    if ((isRecord(tag) && tag.answer === true) || this.init.collects(message)) return
    if (this.init.forwardTypes?.includes(message.type) === true) {
      const to = meshTo(message) ?? PARENT
      const recipient = this.init.delivery.recipient(to)
      if (recipient === undefined) {
        this.fail(message, to, to === PARENT ? 'this node has no parent linked' : `no node named ${to} is linked to this one`)
        return
      }
      this.enqueue(recipient, message)
      return
    }
    if (!(this.init.deliveredTypes ?? DEFAULT_DELIVERED_TYPES).includes(message.type)) return
    const recipients = new Map(destinationsOf(message).flatMap(name => {
      const recipient = this.init.delivery.recipient(name)
      return recipient === undefined ? [] : [[recipient.peerId, recipient] as const]
    }))
    for (const recipient of recipients.values()) this.enqueue(recipient, message)
  }

  private enqueue (recipient: PeerRef, message: BusMessage): void {
    const previous = this.queues.get(recipient.peerId) ?? Promise.resolve()
    const next = previous.then(async () => { await this.carry(recipient, message) })
    this.queues.set(recipient.peerId, next)
    void next.finally(() => { if (this.queues.get(recipient.peerId) === next) this.queues.delete(recipient.peerId) })
  }

  private async carry (recipient: PeerRef, message: BusMessage): Promise<void> {
    let data: Record<string, unknown>
    try {
      data = await this.init.files.carry(message, recipient)
    } catch (err) {
      this.fail(message, recipient.name, errorMessage(err))
      return
    }
    this.init.log.debug({ to: recipient.name, type: message.type }, `passing a ${message.type} to ${recipient.name}`)
    this.init.delivery.deliver(recipient, { ...message, data })
  }

  /** Tells the local skill its message did not leave, and the log why (once a minute per type and reason). */
  private fail (message: BusMessage, to: string, reason: string): void {
    this.repeats.note(`${message.type}:${to}:${reason}`, 'warn', { type: message.type, to }, `did not send a ${message.type} to ${to}: ${reason}`)
    this.init.notify('mesh.forward.failed', { type: message.type, to, reason })
  }
}
