import * as z from 'zod'
import { NodeNameSchema } from '../link/index.ts'
import { MAX_ROOMS } from './constants.ts'

export const RoomSchema = z.object({
  name: NodeNameSchema,
  peerId: z.string().min(1).max(128),
  /** the node it hangs under */
  parent: z.string().max(64),
  /** offline: its parent knows it, but it is not linked now */
  state: z.enum(['linked', 'offline'])
})
export type Room = z.infer<typeof RoomSchema>

export const RoomListSchema = z.object({ rooms: z.array(RoomSchema).max(MAX_ROOMS) })

/**
 * A child's report of its subtree: without `gone`, the whole of it (after the link came up); with `gone`, what
 * changed since its last report — rooms added or changed, and the peer ids of rooms no longer below it.
 */
export const SubtreeReportSchema = RoomListSchema.extend({
  gone: z.array(z.string().min(1).max(128)).max(MAX_ROOMS).optional()
})
