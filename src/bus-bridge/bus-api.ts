import * as z from 'zod'
import { errorMessage, type Logger } from '../common/index.ts'
import { parseUntrusted } from '../routing/index.ts'
import { reply, type BusMessage } from './message.ts'
import { MAX_MAIL_TTL_MS } from '../routing/index.ts'
import type { MessageBus } from './bus.ts'
import type { Mesh } from './index.ts'

const MessageFields = { type: z.string().min(1).max(256).default('speak'), data: z.record(z.string(), z.unknown()).default({}) }
/** `ttl_ms`: how long it may wait for the room, should the room be away */
const SendSchema = z.object({ to: z.string().min(1).max(64), ...MessageFields, ttl_ms: z.number().int().min(1_000).max(MAX_MAIL_TTL_MS).optional() })
const BroadcastSchema = z.object(MessageFields)
const AskSchema = z.object({ to: z.string().min(1).max(64).optional(), utterance: z.string().min(1).max(2_000), lang: z.string().min(2).max(16).default('en-US') })
const FriendSchema = z.object({ name: z.string().min(1).max(128), types: z.array(z.string().min(1).max(128)).min(1).max(64).optional() })

/**
 * The mesh for local skills, over the bus: `mesh.send`, `mesh.broadcast`, `mesh.rooms`, `mesh.ask` and
 * `mesh.friend.accept`/`decline`, each answered with a `….response` (a reply to the asker, as `Message.reply`),
 * invalid input included.
 */
export class BusApi {
  private readonly bus: MessageBus
  private readonly mesh: Mesh
  private readonly log: Logger
  private unsubscribe?: () => void

  constructor (bus: MessageBus, mesh: Mesh, log: Logger) {
    this.bus = bus
    this.mesh = mesh
    this.log = log
  }

  start (): void {
    this.unsubscribe = this.bus.onMessage(message => { void this.serve(message) })
  }

  stop (): void {
    this.unsubscribe?.()
  }

  private async serve (message: BusMessage): Promise<void> {
    const answer = await this.answer(message).catch((err: unknown) => ({ status: 'error', reason: errorMessage(err) }))
    if (answer !== undefined) this.bus.emit(reply(message, `${message.type}.response`, answer))
  }

  private async answer (message: BusMessage): Promise<Record<string, unknown> | undefined> {
    switch (message.type) {
      case 'mesh.send': {
        const request = parseUntrusted(SendSchema, message.data)
        if (!request.success) return invalid(request.error)
        const { to, type, data, ttl_ms: ttlMs } = request.data
        this.log.info({ to, type }, `a local skill sends ${to} a ${type}`)
        return { ...await this.mesh.relay.send(to, { type, data, context: {} }, { ttlMs }) }
      }
      case 'mesh.broadcast': {
        const request = parseUntrusted(BroadcastSchema, message.data)
        if (!request.success) return invalid(request.error)
        return { ...await this.mesh.broadcast.announce({ type: request.data.type, data: request.data.data, context: {} }) }
      }
      case 'mesh.rooms':
        return { rooms: await this.mesh.directory.rooms() }
      case 'mesh.friend.accept':
      case 'mesh.friend.decline': {
        const request = parseUntrusted(FriendSchema, message.data)
        if (!request.success) return invalid(request.error)
        const { name, types } = request.data
        const done = message.type === 'mesh.friend.accept' ? await this.mesh.friends.add(name, types) !== undefined : await this.mesh.friends.decline(name)
        this.log.info({ name }, `a local skill ${message.type === 'mesh.friend.accept' ? 'accepted' : 'declined'} ${name} as a friend`)
        return done ? { status: message.type === 'mesh.friend.accept' ? 'accepted' : 'declined', name } : { status: 'unknown', reason: `no friend request from '${name}'` }
      }
      case 'mesh.ask': {
        const request = parseUntrusted(AskSchema, message.data)
        if (!request.success) return invalid(request.error)
        const { to, utterance, lang } = request.data
        if (to !== undefined) {
          const outcome = await this.mesh.relay.ask(to, [utterance], lang)
          return { status: outcome.status, speaks: outcome.speaks ?? [], answered_by: outcome.status === 'answered' ? to : undefined, reason: outcome.reason }
        }
        const answer = await this.mesh.asks.ask([utterance], lang)
        return { status: answer.status, speaks: answer.speaks, answered_by: answer.answeredBy?.name, reason: answer.reason }
      }
      default:
        return undefined
    }
  }
}

function invalid (error: z.ZodError): Record<string, unknown> {
  const issue = error.issues[0]
  return { status: 'invalid', reason: `field '${issue?.path.join('.') ?? ''}': ${issue?.message ?? 'invalid'}` }
}
