import { resolve } from 'node:path'
import { ExitCode, UserError } from '../common/index.ts'
import { ask, print } from './node-client.ts'
import { ROLES, type Installed, type NodeSkillsReport, type Role, type SkillVersion } from '../skills-exchange/index.ts'
import type { Command, Option } from 'commander'

interface SkillsStatus {
  master: boolean
  published?: Record<string, { current: string | undefined, versions: SkillVersion[] }>
  nodes: NodeSkillsReport[]
  installed: Installed
  lastUpdate?: { at: string, ok: boolean, reason?: string }
}

const count = (name: string) => (value: string): number => {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UserError(`${name}: expected a whole number from 1, got '${value}'`, ExitCode.usage)
  return Number(value)
}

function formatInstalled (status: SkillsStatus): string {
  const rows = Object.entries(status.installed).map(([name, skill]) => `  ${name}  ${skill.version}  ${skill.kind}  since ${skill.installedAt}${skill.previous === null ? '' : `  (was ${skill.previous})`}`)
  const last = status.lastUpdate === undefined ? 'no update checked yet' : `last update ${status.lastUpdate.at}: ${status.lastUpdate.ok ? 'verified' : `refused: ${status.lastUpdate.reason ?? '?'}`}`
  return [rows.length === 0 ? 'no skills installed from the mesh' : 'installed:', ...rows, last].join('\n')
}

function formatTree (status: SkillsStatus): string {
  if (!status.master) return 'this node is not the mesh\'s skills master; `skills list` shows what is installed here'
  const published = Object.entries(status.published ?? {}).map(([name, skill]) => `  ${name}  ${skill.current ?? '-'}  (${skill.versions.length} version(s))`)
  const nodes = status.nodes.map(node => `  ${node.node}: ${Object.values(node.skills).map(skill => `${skill.name} ${skill.version} ${skill.status}${skill.reason === undefined ? '' : ` (${skill.reason})`}`).join(', ')}`)
  return [published.length === 0 ? 'nothing published yet' : 'published:', ...published, nodes.length === 0 ? 'no node has reported yet' : 'nodes:', ...nodes].join('\n')
}

/** `skills init|add|publish|rotate-keys|status|list|rollback`: signed skill updates from the master down the tree. */
export function addSkillCommands (program: Command, homeOption: () => Option): void {
  const skills = program.command('skills').description('signed skill updates: published by the mesh\'s master, verified by every node before it installs or passes them on')

  skills.command('init')
    .description('on the master: make the mesh\'s root of trust (TUF role keys, kept 0600 in the home); the invites this node gives then pin it')
    .addOption(homeOption())
    .option('--keys <n>', 'keys for the root and targets roles (default 1)', count('--keys'))
    .option('--threshold <n>', 'how many of them must sign (default 1)', count('--threshold'))
    .action(async (flags: { home?: string, keys?: number, threshold?: number }) => {
      const { rootHash } = await ask(flags.home, '/skills/init', { keys: flags.keys ?? flags.threshold ?? 1, threshold: flags.threshold ?? 1 }) as { rootHash: string }
      print(`made the mesh's skills root ${rootHash}; nodes that join with this node's invites pin it`)
    })

  skills.command('add')
    .description('on the master: take a skill file in (an OVOS wheel, or NAME-VERSION.tar.gz); `skills publish` sends it')
    .addOption(homeOption())
    .argument('<file>', 'the skill file')
    .option('--name <name>', 'the skill\'s name, when the file name does not say it')
    .option('--version <version>', 'its version, when the file name does not say it')
    .action(async (file: string, flags: { home?: string, name?: string, version?: string }) => {
      const added = await ask(flags.home, '/skills/add', { path: resolve(file), name: flags.name, version: flags.version }) as { name: string, version: string, kind: string }
      print(`added ${added.name} ${added.version} (${added.kind}); publish it with \`mycroft-mesh skills publish\``)
    })

  skills.command('publish')
    .description('on the master: sign what was added and tell the children; each node verifies, installs, then tells its own')
    .addOption(homeOption())
    .action(async (flags: { home?: string }) => {
      const { version, children } = await ask(flags.home, '/skills/publish', {}) as { version: number, children: number }
      print(`published (timestamp ${version}); told ${children} child(ren); \`mycroft-mesh skills status\` shows each node's outcome`)
    })

  skills.command('rollback')
    .description('on the master: publish the previous version of a skill as its newest')
    .addOption(homeOption())
    .argument('<name>', 'the skill')
    .action(async (name: string, flags: { home?: string }) => {
      const back = await ask(flags.home, '/skills/rollback', { name }) as { version: string, children: number }
      print(`published ${name} ${back.version} as the newest; told ${back.children} child(ren)`)
    })

  skills.command('rotate-keys')
    .description('on the master: new keys for the named roles (all four by default) — for a key that leaked, or to change how many sign; the old root keys sign the new root, so every node moves on to it, and invites made before still work')
    .addOption(homeOption())
    .argument('[roles...]', `roles to give new keys: ${ROLES.join(', ')} (default: all)`)
    .option('--keys <n>', 'keys for the root and targets roles named (default: as many as now)', count('--keys'))
    .option('--threshold <n>', 'how many of them must sign (default: as now)', count('--threshold'))
    .action(async (roles: string[], flags: { home?: string, keys?: number, threshold?: number }) => {
      const unknown = roles.filter(role => !(ROLES as readonly string[]).includes(role))
      if (unknown.length > 0) throw new UserError(`no role '${unknown.join("', '")}': the roles are ${ROLES.join(', ')}`, ExitCode.usage)
      const named = roles.length === 0 ? ROLES : roles as Role[]
      const rotated = await ask(flags.home, '/skills/rotate', { roles: named, keys: flags.keys, threshold: flags.threshold }) as { rootVersion: number, rootHash: string, children: number }
      print(`new keys for ${named.join(', ')}; the old ones sign nothing from now on. Root version ${rotated.rootVersion} (${rotated.rootHash}), signed by the old root keys and the new; told ${rotated.children} child(ren)`)
    })

  skills.command('status')
    .description('on the master: what is published, and what each node of the tree reported')
    .addOption(homeOption())
    .option('--json', 'print JSON instead of text')
    .action(async (flags: { home?: string, json?: boolean }) => {
      const status = await ask(flags.home, '/skills') as SkillsStatus
      print(flags.json === true ? JSON.stringify(status, null, 2) : formatTree(status))
    })

  skills.command('list')
    .description('what this node installed from the mesh, and how its last update went')
    .addOption(homeOption())
    .option('--json', 'print JSON instead of text')
    .action(async (flags: { home?: string, json?: boolean }) => {
      const status = await ask(flags.home, '/skills') as SkillsStatus
      print(flags.json === true ? JSON.stringify({ installed: status.installed, lastUpdate: status.lastUpdate }, null, 2) : formatInstalled(status))
    })
}
