import * as z from 'zod'
import { UserError } from '../common/index.ts'
import { RoleSchema } from './permissions.ts'

const TOKEN_PREFIX = 'mmi1_'

const TokenSchema = z.object({
  /** the parent's addresses, each ending in /p2p/<its peer id> */
  addrs: z.array(z.string().min(1).max(512)).min(1).max(16),
  peerId: z.string().min(1).max(128),
  secret: z.string().min(16).max(128),
  name: z.string().min(1).max(64),
  role: RoleSchema,
  expiresAt: z.string(),
  /** the sha256 of the mesh's skills root metadata the parent trusts: the joining node pins it */
  skillsRoot: z.string().regex(/^[0-9a-f]{64}$/).optional()
}).strict()
export type InviteToken = z.infer<typeof TokenSchema>

export function encodeInviteToken (token: InviteToken): string {
  return TOKEN_PREFIX + Buffer.from(JSON.stringify(token)).toString('base64url')
}

/** Reads a token; a malformed one is a UserError that says so (whether it is forged is the parent's call). */
export function decodeInviteToken (text: string): InviteToken {
  const trimmed = text.trim()
  if (!trimmed.startsWith(TOKEN_PREFIX)) {
    throw new UserError(`'${trimmed.slice(0, 24)}…' is not a mycroft-mesh invite token (they start with ${TOKEN_PREFIX}); ask the parent's owner for one with \`mycroft-mesh invite\``, 2)
  }
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(trimmed.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8'))
  } catch {
    throw new UserError('the invite token is damaged (cut short when copied?); copy it again, whole', 2)
  }
  const parsed = TokenSchema.safeParse(json)
  if (!parsed.success) throw new UserError('the invite token is damaged (cut short when copied?); copy it again, whole', 2)
  return parsed.data
}
