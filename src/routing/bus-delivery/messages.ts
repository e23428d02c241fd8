import { z } from 'zod'

/** A Mycroft message, as it travels in a `bus` envelope. */
export const MycroftMessageSchema = z.object({
  type: z.string().min(1).max(256),
  data: z.record(z.string(), z.unknown()),
  context: z.record(z.string(), z.unknown())
})
export type MycroftMessage = z.infer<typeof MycroftMessageSchema>

export const BusEnvelopeSchema = z.object({ message: MycroftMessageSchema })
