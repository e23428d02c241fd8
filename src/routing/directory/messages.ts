import { z } from 'zod'
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
