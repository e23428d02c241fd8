import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { extract } from 'tar'
import * as z from 'zod'
import { errorMessage, writeFileAtomic } from '../common/index.ts'
import { PIP_INSTALL_TIMEOUT_MS, SKILL_LOAD_TIMEOUT_MS } from './constants.ts'
import type { VerifiedSkill } from './client.ts'
import type { MycroftMessage } from '../routing/index.ts'

/** The local bus, as OVOS's installer is reached through it: a request (or none), and the first message that answers it. */
export interface PipInstaller {
  request: (message: MycroftMessage | null, accept: (reply: MycroftMessage) => boolean, timeoutMs: number) => Promise<MycroftMessage | undefined>
}

/** The skill ids of plugin skills start with their package's name by convention (`ovos-skill-hello-world.openvoiceos`). */
const isSkillOf = (name: string) => (message: MycroftMessage): boolean => {
  const id = typeof message.data.id === 'string' ? message.data.id.toLowerCase().replace(/_/g, '-') : ''
  return (message.type === 'mycroft.skills.loaded' || message.type === 'mycroft.skills.loading_failure') && id.startsWith(name.toLowerCase())
}

const InstalledSchema = z.record(z.string(), z.object({
  version: z.string(),
  kind: z.string(),
  sha256: z.string(),
  installedAt: z.string(),
  previous: z.string().nullable()
}))
export type Installed = z.infer<typeof InstalledSchema>

/**
 * Installs verified skills: an OVOS wheel through OVOS's own installer on the local bus, an archive unpacked into
 * `skills/NAME/VERSION` and switched to by renaming the `current` link over the old one (the previous version
 * stays for a rollback). What is installed is recorded only once it is, so a crash mid-install leaves the
 * previous version in place and the install is tried again at the next update.
 */
export class SkillInstaller {
  private readonly dir: string
  private readonly recordPath: string
  private readonly pip?: PipInstaller
  private record: Installed = {}

  constructor (dir: string, pip?: PipInstaller) {
    this.dir = dir
    this.recordPath = join(dir, 'installed.json')
    this.pip = pip
  }

  /** Reads what is installed, and clears what an install cut short left behind (it is tried again at the next update). */
  async open (): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    const parsed = InstalledSchema.safeParse(JSON.parse(await readFile(this.recordPath, 'utf8').catch(() => '{}')))
    this.record = parsed.success ? parsed.data : {}
    for (const skill of await readdir(this.dir, { withFileTypes: true })) {
      if (!skill.isDirectory()) continue
      for (const entry of await readdir(join(this.dir, skill.name))) {
        if (entry.startsWith('.') && (entry.endsWith('.tmp') || entry.startsWith('.current.'))) await rm(join(this.dir, skill.name, entry), { recursive: true, force: true })
      }
    }
  }

  installed (): Installed {
    return this.record
  }

  needs (skill: VerifiedSkill): boolean {
    const current = this.record[skill.name]
    return current?.version !== skill.version || current.sha256 !== skill.sha256
  }

  async install (skill: VerifiedSkill): Promise<void> {
    if (skill.kind === 'archive') await this.unpack(skill)
    else await this.pipInstall(skill)
    this.record[skill.name] = { version: skill.version, kind: skill.kind, sha256: skill.sha256, installedAt: new Date().toISOString(), previous: this.record[skill.name]?.version ?? null }
    await writeFileAtomic(this.recordPath, JSON.stringify(this.record, null, 2))
  }

  private async unpack (skill: VerifiedSkill): Promise<void> {
    const home = join(this.dir, skill.name)
    const target = join(home, skill.version)
    const temp = join(home, `.${skill.version}.${randomBytes(4).toString('hex')}.tmp`)
    await mkdir(temp, { recursive: true })
    try {
      // tar refuses absolute paths and `..` in entries by default, so an archive cannot write outside its folder
      await extract({ file: skill.file, cwd: temp, strict: true })
      await rm(target, { recursive: true, force: true })
      await rename(temp, target)
    } catch (err) {
      await rm(temp, { recursive: true, force: true })
      throw new Error(`could not unpack ${skill.path}: ${errorMessage(err)}`)
    }
    const link = join(home, `.current.${randomBytes(4).toString('hex')}`)
    await symlink(skill.version, link)
    await rename(link, join(home, 'current'))
  }

  /** OVOS's own installer, then the skill manager's next scan: the skill counts as installed once it loaded. */
  private async pipInstall (skill: VerifiedSkill): Promise<void> {
    const pip = this.pip
    if (pip === undefined) throw new Error('this node has no messagebus, so OVOS cannot install a wheel here')
    const loaded = pip.request(null, isSkillOf(skill.name), PIP_INSTALL_TIMEOUT_MS + SKILL_LOAD_TIMEOUT_MS)
    const reply = await pip.request({ type: 'ovos.pip.install', data: { packages: [skill.file] }, context: { source: 'mycroft-mesh', destination: ['skills'] } },
      message => message.type === 'ovos.pip.install.complete' || message.type === 'ovos.pip.install.failed', PIP_INSTALL_TIMEOUT_MS)
    if (reply === undefined) throw new Error(`OVOS's installer did not answer within ${PIP_INSTALL_TIMEOUT_MS / 1000} s (is skills.installer.allow_pip on, with a local constraints file?)`)
    if (reply.type.endsWith('.failed')) throw new Error(`OVOS's installer failed: ${typeof reply.data.error === 'string' ? reply.data.error : 'no reason given'}`)
    const load = await loaded
    if (load === undefined) throw new Error(`OVOS installed ${skill.name} ${skill.version} but did not load it within ${SKILL_LOAD_TIMEOUT_MS / 1000} s (an upgrade loads only when ovos-core restarts)`)
    if (load.type === 'mycroft.skills.loading_failure') throw new Error(`OVOS installed ${skill.name} ${skill.version} but could not load it (its log says why)`)
  }
}
