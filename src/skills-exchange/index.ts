import { SkillsExchangeService } from './skills-exchange.ts'
import type { PipInstaller } from './installer.ts'
import type { Logger } from '../common/index.ts'
import type { FigureRegistry } from '../observe/index.ts'
import type { Link, LocalBus } from '../routing/index.ts'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

import type { Role } from './repository.ts'

export type { SkillVersion, Role } from './repository.ts'
export { ROLES } from './repository.ts'
export type { Installed } from './installer.ts'

/** One skill's outcome on one node, as the master's `skills status` shows it. */
export interface SkillOutcome {
  name: string
  version: string
  status: 'installed' | 'failed'
  reason?: string
  at: string
}

export interface NodeSkillsReport {
  node: string
  skills: Record<string, SkillOutcome>
}

export interface SkillsExchangeInit {
  /** this node's name, as its reports name it */
  name: string
  /** where the pinned root, the verified metadata, the mirror and the installed skills live */
  dir: string
  /** where the master keeps its repository (role keys, published files) */
  repoDir: string
  log: Logger
  figures: FigureRegistry
  /** the local bus: installs are told there, and OVOS installs wheels through it */
  bus?: Pick<LocalBus, 'notify'>
  pip?: PipInstaller
  /** does this node take skill updates from this parent (permission `push-skills`)? */
  mayPull: (parentPeerId: string) => boolean
}

export interface SkillsExchangeComponents {
  link: Link
  registrar: Registrar
  connectionManager: ConnectionManager
}

export interface SkillsExchange {
  readonly isMaster: boolean
  initRepository: (options: { threshold?: number, keys?: number }) => Promise<{ rootHash: string }>
  add: (file: string, given: { name?: string, version?: string }) => Promise<{ name: string, version: string, kind: string }>
  publish: () => Promise<{ version: number, children: number }>
  rollback: (name: string) => Promise<{ name: string, version: string, children: number }>
  /** new keys for these roles, named by a new root that the old root keys sign too; then all signed anew */
  rotate: (roles: readonly Role[], options: { keys?: number, threshold?: number }) => Promise<{ rootVersion: number, rootHash: string, children: number }>
  /** the hash of the mesh root this node trusts (the master's own), for the invites it gives */
  rootHash: () => Promise<string | undefined>
  /** pins the mesh's root from an invite, unless one is pinned already */
  pin: (rootHash: string) => Promise<void>
  status: () => unknown
}

/** `createLibp2p({ services: { link: link(…), skills: skillsExchange(init) } })`: needs the link service. */
export function skillsExchange (init: SkillsExchangeInit): (components: SkillsExchangeComponents) => SkillsExchange {
  return (components) => new SkillsExchangeService(components, init)
}
