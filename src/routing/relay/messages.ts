import * as z from 'zod'
import { SpeakSchema } from '../ask/index.ts'
import { MycroftMessageSchema, NodeNameSchema, OriginSignatureFields } from '../link/index.ts'
import { MAX_MAIL_TTL_MS } from './constants.ts'

const Addressed = {
  /** the same for every copy of one message: a room takes it once */
  id: z.string().min(1).max(128),
  /** proof, by the house key, that the room it comes from is of the recipient's house */
  house: z.string().max(128).optional(),
  /** the room it is for */
  to: NodeNameSchema,
  /** the room it comes from, as its own node names itself */
  from: NodeNameSchema
}

/** set (not signed) by the node that kept the message while its room was away: it may be older than a live one */
const HeldField = z.literal(true).optional()
/** set (not signed) by the top of a house on what it passes down from above: it came from outside the house */
const OutsideField = z.literal(true).optional()

const QuestionFields = z.object({ utterances: z.array(z.string().max(2_000)).min(1).max(16), lang: z.string().min(2).max(16) })

/** How a message kept for a room that was away ended, told to the room that sent it. */
const NoticeFields = z.object({
  /** the id of the message it is about */
  about: z.string().min(1).max(128),
  status: z.enum(['delivered', 'expired']),
  /** the room the message was for */
  room: NodeNameSchema
})

/**
 * A message for the room's bus, a question for the room's assistant, or a notice about mail it sent, signed by the
 * node it comes from.
 */
export const SignedRelaySchema = z.union([
  z.object({
    ...Addressed,
    ...OriginSignatureFields,
    message: MycroftMessageSchema,
    /** how long it may wait for a room that is away (the keeping node's own limit if shorter) */
    ttlMs: z.number().int().min(1_000).max(MAX_MAIL_TTL_MS).optional(),
    held: HeldField,
    outside: OutsideField
  }).strict(),
  z.object({ ...Addressed, ...OriginSignatureFields, question: QuestionFields, outside: OutsideField }).strict(),
  z.object({ ...Addressed, ...OriginSignatureFields, notice: NoticeFields, outside: OutsideField }).strict()
])
export type SignedRelay = z.infer<typeof SignedRelaySchema>
/** A message or a question for a room, before its origin signs it (each member of the union without the signature). */
export type Relay = SignedRelay extends infer Member ? Member extends unknown ? Omit<Member, keyof typeof OriginSignatureFields> : never : never

export const OutcomeSchema = z.object({
  /** delivered: the message is on the room's bus; answered / no-answer: what the room's assistant said, or that it did not know */
  /** queued: the room is away, and the node that knows it keeps the message until it is back */
  status: z.enum(['delivered', 'queued', 'answered', 'no-answer', 'refused', 'no-such-room', 'offline', 'error']),
  speaks: z.array(SpeakSchema).max(64).optional(),
  reason: z.string().max(1_024).optional(),
  /** not-a-friend: the room takes nothing from the sender, which is not of its house nor on its friend list */
  code: z.enum(['not-a-friend']).optional()
})
export type Outcome = z.infer<typeof OutcomeSchema>

/** A room changed its friends: the refusals remembered on the way for this sender (or all, without one) are dropped. */
export const ConsentSchema = z.object({ to: NodeNameSchema, origin: z.string().min(1).max(128).optional() })
