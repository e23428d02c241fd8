import * as z from 'zod'
import { ControlRefusal, parseRequest, type ControlRoutes } from '../control/index.ts'
import type { Friends } from '../access/index.ts'

const FriendRequestBody = z.object({
  action: z.enum(['add', 'remove', 'accept', 'decline']),
  /** a name (from a request, or the list) or a peer id */
  who: z.string().min(1).max(128),
  types: z.array(z.string().min(1).max(128)).min(1).max(64).optional(),
  name: z.string().min(1).max(64).optional()
})

const unknown = (who: string): ControlRefusal =>
  new ControlRefusal(`no friend request from '${who}', and it is not a peer id; \`mycroft-mesh friend requests\` lists who tried, and a node that never did is added by its peer id (\`mycroft-mesh id\` on it)`)

/** The control routes of friends: who may speak to this node from outside its house, and who asked to. */
export function friendRoutes (friends: Friends): ControlRoutes {
  return {
    'GET /friends': () => ({ friends: friends.list(), requests: friends.requests() }),
    'POST /friends': async body => {
      const { action, who, types, name } = parseRequest(FriendRequestBody, body)
      switch (action) {
        case 'add':
        case 'accept': {
          const friend = await friends.add(who, types, name)
          if (friend === undefined) throw unknown(who)
          return friend
        }
        case 'remove':
          if (!await friends.remove(who)) throw new ControlRefusal(`'${who}' is not on the friend list; \`mycroft-mesh friends\` lists it`)
          return { removed: who }
        case 'decline':
          if (!await friends.decline(who)) throw unknown(who)
          return { declined: who }
      }
    }
  }
}
