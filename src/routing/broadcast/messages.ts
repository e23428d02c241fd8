import { z } from 'zod'
import { MycroftMessageSchema, NodeNameSchema } from '../link/index.ts'

export const AnnouncementSchema = z.object({
  id: z.string().min(1).max(128),
  /** the room it comes from */
  from: NodeNameSchema,
  message: MycroftMessageSchema
})
export type Announcement = z.infer<typeof AnnouncementSchema>
