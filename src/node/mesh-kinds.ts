import { z } from 'zod'

/** Envelope kinds the node itself serves, beside the link's own and the ask flow's. */
export const MeshKind = {
  /** a Mycroft message for the other side's bus */
  bus: 'bus'
} as const

export const BusEnvelopeSchema = z.object({
  message: z.object({
    type: z.string().min(1).max(256),
    data: z.record(z.string(), z.unknown()),
    context: z.record(z.string(), z.unknown())
  })
})
