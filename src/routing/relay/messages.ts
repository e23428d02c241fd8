import { z } from 'zod'
import { MycroftMessageSchema, NodeNameSchema } from '../link/index.ts'

export const RelaySchema = z.object({
  /** the room it is for */
  to: NodeNameSchema,
  /** the room it comes from, as its own node names itself */
  from: NodeNameSchema,
  message: MycroftMessageSchema
})
export type Relay = z.infer<typeof RelaySchema>

export const OutcomeSchema = z.object({
  status: z.enum(['delivered', 'refused', 'no-such-room', 'error']),
  reason: z.string().max(1_024).optional()
})
export type Outcome = z.infer<typeof OutcomeSchema>
