import { isAbsolute } from 'node:path'
import * as z from 'zod'
import { parseRequest, type ControlRoutes } from '../control/index.ts'
import { ROLES, type SkillsExchange } from '../skills-exchange/index.ts'

const InitRequest = z.object({ threshold: z.number().int().min(1).max(16).default(1), keys: z.number().int().min(1).max(16).default(1) })
const AddRequest = z.object({
  path: z.string().min(1).max(4_096).refine(isAbsolute, { message: 'an absolute path' }),
  name: z.string().min(1).max(100).optional(),
  version: z.string().min(1).max(64).optional()
})
const RollbackRequest = z.object({ name: z.string().min(1).max(100) })
const RotateRequest = z.object({
  roles: z.array(z.enum(ROLES)).min(1).max(ROLES.length),
  keys: z.number().int().min(1).max(16).optional(),
  threshold: z.number().int().min(1).max(16).optional()
})

/** The control routes of the skills exchange: the master's repository, and what each node installed. */
export function skillRoutes (skills: SkillsExchange): ControlRoutes {
  return {
    'GET /skills': () => skills.status(),
    'POST /skills/init': async body => skills.initRepository(parseRequest(InitRequest, body)),
    'POST /skills/add': async body => {
      const { path, name, version } = parseRequest(AddRequest, body)
      return skills.add(path, { name, version })
    },
    'POST /skills/publish': async () => skills.publish(),
    'POST /skills/rollback': async body => skills.rollback(parseRequest(RollbackRequest, body).name),
    'POST /skills/rotate': async body => {
      const { roles, keys, threshold } = parseRequest(RotateRequest, body)
      return skills.rotate([...new Set(roles)], { keys, threshold })
    }
  }
}
