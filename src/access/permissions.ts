import * as z from 'zod'

/** A room is a child that joined the house's hub by holding the house key, with no invite. */
export const RoleSchema = z.enum(['parent', 'child', 'friend', 'room'])
export type Role = z.infer<typeof RoleSchema>

/** What one peer may do on this node. */
export const PermissionsSchema = z.object({
  /** may send questions up to this node */
  ask: z.boolean(),
  /** may ask this node to pass a message on to another peer */
  relay: z.boolean(),
  /** may announce to every peer this node links */
  broadcast: z.boolean(),
  /** may push skill bundles to this node */
  pushSkills: z.boolean(),
  /** may send files to this node (`/mycroft-mesh/file/1.0.0`); unset in records older than files: the role's default */
  files: z.boolean().optional(),
  /** Mycroft message types it may put on this node's bus; anything else is dropped and counted */
  busTypes: z.array(z.string().min(1).max(128)).max(256),
  /** frames per second it may send, on average (bursts of twice that pass) */
  framesPerSecond: z.number().int().min(1).max(100_000)
}).strict()
export type Permissions = z.infer<typeof PermissionsSchema>

/** A child asks; a parent speaks on its children's buses and pushes skills; a friend may only speak. */
export function defaultPermissions (role: Role): Permissions {
  switch (role) {
    case 'child':
      return { ask: true, relay: true, broadcast: false, pushSkills: false, files: true, busTypes: [], framesPerSecond: 50 }
    case 'room':
      // housemates: a room may tell the hub something, and announce to the whole house
      return { ask: true, relay: true, broadcast: true, pushSkills: false, files: true, busTypes: ['speak'], framesPerSecond: 50 }
    case 'parent':
      // a node chose its parent: the rate limit only stops a runaway, not a busy hub
      return { ask: false, relay: true, broadcast: true, pushSkills: true, files: true, busTypes: ['speak'], framesPerSecond: 100_000 }
    case 'friend':
      return { ask: false, relay: false, broadcast: false, pushSkills: false, files: false, busTypes: ['speak'], framesPerSecond: 20 }
  }
}

type PermissionField = Exclude<keyof Permissions, 'busTypes' | 'framesPerSecond'>

/**
 * The words `allow`/`deny` take for permissions (any other word is a Mycroft message type): the field each
 * sets, and what a refused peer is told it may not do.
 */
const PERMISSION_WORDS: Record<string, { field: PermissionField, doing: string }> = {
  ask: { field: 'ask', doing: 'ask this node questions' },
  relay: { field: 'relay', doing: 'have this node pass messages on' },
  broadcast: { field: 'broadcast', doing: 'announce through this node' },
  'push-skills': { field: 'pushSkills', doing: 'push skills to this node' },
  files: { field: 'files', doing: 'send files to this node' }
}
/** The permission a word names; undefined for any other word (a message type, or `constructor`). */
export function permissionNamed (word: string): { field: PermissionField, doing: string } | undefined {
  return Object.hasOwn(PERMISSION_WORDS, word) ? PERMISSION_WORDS[word] : undefined
}

/** The permission word of the file protocol, checked when a file stream opens rather than by a link kind. */
export const FILES_PERMISSION = 'files'
export const PUSH_SKILLS_PERMISSION = 'push-skills'

/** Permissions with `what` (permission words and message types) allowed or denied, and the rate changed if given. */
export function applyPermission (permissions: Permissions, allow: boolean, what: string[], framesPerSecond?: number): Permissions {
  const next = { ...permissions, busTypes: [...permissions.busTypes], framesPerSecond: framesPerSecond ?? permissions.framesPerSecond }
  for (const word of what) {
    const permission = permissionNamed(word)
    if (permission !== undefined) {
      next[permission.field] = allow
    } else if (allow) {
      if (!next.busTypes.includes(word)) next.busTypes.push(word)
    } else {
      next.busTypes = next.busTypes.filter(type => type !== word)
    }
  }
  return next
}
