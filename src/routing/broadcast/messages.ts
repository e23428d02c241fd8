import * as z from 'zod'
import { MycroftMessageSchema, NodeNameSchema, OriginSignatureFields } from '../link/index.ts'

export const AnnouncementSchema = z.object({
  id: z.string().min(1).max(128),
  /** the room it comes from */
  from: NodeNameSchema,
  message: MycroftMessageSchema,
  ...OriginSignatureFields
}).strict()
export type Announcement = z.infer<typeof AnnouncementSchema>
