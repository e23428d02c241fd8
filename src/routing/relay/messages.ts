import { z } from 'zod'
import { SpeakSchema } from '../ask/index.ts'
import { MycroftMessageSchema, NodeNameSchema } from '../link/index.ts'

const Addressed = {
  /** the room it is for */
  to: NodeNameSchema,
  /** the room it comes from, as its own node names itself */
  from: NodeNameSchema
}

/** A message for the room's bus, or a question for the room's assistant. */
export const RelaySchema = z.union([
  z.object({ ...Addressed, message: MycroftMessageSchema }).strict(),
  z.object({ ...Addressed, question: z.object({ utterances: z.array(z.string().max(2_000)).min(1).max(16), lang: z.string().min(2).max(16) }) }).strict()
])
export type Relay = z.infer<typeof RelaySchema>

export const OutcomeSchema = z.object({
  /** delivered: the message is on the room's bus; answered / no-answer: what the room's assistant said, or that it did not know */
  status: z.enum(['delivered', 'answered', 'no-answer', 'refused', 'no-such-room', 'error']),
  speaks: z.array(SpeakSchema).max(64).optional(),
  reason: z.string().max(1_024).optional()
})
export type Outcome = z.infer<typeof OutcomeSchema>
