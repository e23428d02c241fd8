import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import * as z from 'zod'
import { LogLimiter, errorMessage, type Logger } from '../common/index.ts'
import { LinkKindService, parseUntrusted, type Envelope, type LinkSession, type Need } from '../routing/index.ts'
import { SkillsClient, NotPinnedError, type VerifiedSkill } from './client.ts'
import { PUSH_SKILLS_PERMISSION } from '../access/index.ts'
import { MAX_INBOUND_FETCHES_PER_CONNECTION, SKILLS_CAPABILITY, SKILLS_COUNTERS, SKILLS_PROTOCOL, SkillsKind } from './constants.ts'
import { SkillInstaller } from './installer.ts'
import { SkillsRepository, type Role } from './repository.ts'
import { ParentFiles, serveFiles } from './wire.ts'
import type { NodeSkillsReport, SkillOutcome, SkillsExchange, SkillsExchangeComponents, SkillsExchangeInit } from './index.ts'
import type { Startable, Stream } from '@libp2p/interface'

const UpdateSchema = z.object({ version: z.number().int().min(0) })
const ReportSchema = z.object({
  node: z.string().min(1).max(64),
  outcomes: z.array(z.object({ name: z.string().max(100), version: z.string().max(64), status: z.enum(['installed', 'failed']), reason: z.string().max(500).optional(), at: z.string().max(40) })).max(256)
})

/**
 * The skills exchange on each node. On the master it serves the repository it signs; on every other node it
 * pulls updates from its parent over `/mycroft-mesh/skills/1.0.0` with the TUF client, installs what verified,
 * serves its children the very bytes it verified, and only then tells them (`skills-update`). Outcomes travel up
 * to the master (`skills-report`). Only a parent serves and announces: a child can neither push nor be pulled from.
 */
export class SkillsExchangeService extends LinkKindService implements SkillsExchange, Startable {
  readonly [Symbol.toStringTag] = 'mycroft-mesh/skills-exchange'
  readonly [serviceCapabilities] = ['@mycroft-mesh/skills-exchange']
  readonly [serviceDependencies] = ['@mycroft-mesh/link']
  readonly capability = SKILLS_CAPABILITY
  readonly kinds = [SkillsKind.update, SkillsKind.report]
  readonly permission = PUSH_SKILLS_PERMISSION

  private readonly components: SkillsExchangeComponents
  private readonly init: SkillsExchangeInit
  private readonly log: Logger
  private readonly repeats: LogLimiter
  private readonly counters
  private readonly client: SkillsClient
  private readonly installer: SkillInstaller
  private repository?: SkillsRepository
  private readonly reports = new Map<string, NodeSkillsReport>()
  private updating?: Promise<void>
  private again = false
  private lastParent?: string
  private lastUpdate: { at: string, ok: boolean, reason?: string } | undefined
  private refresher?: ReturnType<typeof setInterval>
  private stopLinkWatch?: () => void

  constructor (components: SkillsExchangeComponents, init: SkillsExchangeInit) {
    super(components.link)
    this.components = components
    this.init = init
    this.log = init.log
    this.repeats = new LogLimiter(init.log)
    this.counters = init.figures.counters('skills', SKILLS_COUNTERS)
    this.client = new SkillsClient(init.dir)
    this.installer = new SkillInstaller(join(init.dir, 'installed'), init.pip)
    init.figures.reading('skills', () => ({ master: this.repository !== undefined, skillsHere: Object.keys(this.installer.installed()).length }))
  }

  override async start (): Promise<void> {
    await super.start()
    await this.client.open()
    await this.installer.open()
    if (await stat(join(this.init.repoDir, 'state.json')).then(() => true, () => false)) await this.becomeMaster(await SkillsRepository.open(this.init.repoDir))
    await this.components.registrar.handle(SKILLS_PROTOCOL, (stream, connection) => { void this.serveFile(stream, connection.remotePeer.toString()) }, {
      maxInboundStreams: MAX_INBOUND_FETCHES_PER_CONNECTION
    })
    this.stopLinkWatch = this.link.onChange(() => { this.parentMayHaveChanged() })
  }

  override stop (): void {
    super.stop()
    clearInterval(this.refresher)
    this.stopLinkWatch?.()
    void this.components.registrar.unhandle(SKILLS_PROTOCOL)
  }

  needs (envelope: Envelope): Need | undefined {
    return envelope.kind === SkillsKind.update ? { permission: PUSH_SKILLS_PERMISSION } : undefined
  }

  handle (envelope: Envelope, session: LinkSession): void {
    const fromParent = this.link.parent?.session === session
    if (envelope.kind === SkillsKind.update) {
      if (!fromParent) {
        session.violation('forbidden', 'only a parent announces skill updates; a child cannot push them up')
        return
      }
      if (!parseUntrusted(UpdateSchema, envelope.body).success) {
        session.violation('invalid', 'a skills-update needs a version')
        return
      }
      this.scheduleUpdate()
      return
    }
    const child = this.link.children.get(session.remotePeer)
    if (fromParent || child?.session !== session) {
      session.violation('forbidden', 'skill reports go up the tree, from a child to its parent')
      return
    }
    const report = parseUntrusted(ReportSchema, envelope.body)
    if (!report.success) {
      session.violation('invalid', `skills-report field '${report.error.issues[0]?.path.join('.')}': ${report.error.issues[0]?.message}`)
      return
    }
    this.noteReport(report.data.node, report.data.outcomes)
  }

  get isMaster (): boolean {
    return this.repository !== undefined
  }

  async initRepository (options: { threshold?: number, keys?: number }): Promise<{ rootHash: string }> {
    const repository = await SkillsRepository.init(this.init.repoDir, options)
    await this.becomeMaster(repository)
    return { rootHash: await repository.rootHash() }
  }

  async add (file: string, given: { name?: string, version?: string }): Promise<{ name: string, version: string, kind: string }> {
    const added = await this.master().add(file, given)
    return { name: added.name, version: added.version, kind: added.kind }
  }

  async publish (): Promise<{ version: number, children: number }> {
    const version = await this.master().publish()
    return { version, children: this.announce(version) }
  }

  async rollback (name: string): Promise<{ name: string, version: string, children: number }> {
    const previous = await this.master().rollback(name)
    return { name, version: previous.version, children: this.announce(this.master().timestampVersion) }
  }

  async rotate (roles: readonly Role[], options: { keys?: number, threshold?: number }): Promise<{ rootVersion: number, rootHash: string, children: number }> {
    const repository = this.master()
    const { rootVersion, timestampVersion } = await repository.rotate(roles, options)
    this.log.info({ roles, rootVersion }, `rotated the skills keys of ${roles.join(', ')}: root version ${rootVersion}, signed by the old root keys and the new`)
    return { rootVersion, rootHash: await repository.rootHash(), children: this.announce(timestampVersion) }
  }

  async rootHash (): Promise<string | undefined> {
    return this.repository !== undefined ? this.repository.rootHash() : this.client.rootHash()
  }

  async pin (rootHash: string): Promise<void> {
    if (await this.client.pinned() === undefined) await this.client.pin(rootHash)
  }

  status (): { master: boolean, published?: ReturnType<SkillsRepository['skills']>, nodes: NodeSkillsReport[], installed: ReturnType<SkillInstaller['installed']>, lastUpdate?: { at: string, ok: boolean, reason?: string } } {
    return {
      master: this.repository !== undefined,
      published: this.repository?.skills(),
      nodes: [...this.reports.values()],
      installed: this.installer.installed(),
      lastUpdate: this.lastUpdate
    }
  }

  private async becomeMaster (repository: SkillsRepository): Promise<void> {
    this.repository = repository
    await repository.refreshTimestamp()
    clearInterval(this.refresher)
    this.refresher = setInterval(() => {
      void repository.refreshTimestamp().then(refreshed => { if (refreshed) this.announce(repository.timestampVersion) }, (err: unknown) => {
        this.log.error({ err: errorMessage(err) }, `could not sign a fresh skills timestamp: ${errorMessage(err)}; nodes refuse updates once the current one expires`)
      })
    }, 3_600_000)
    this.refresher.unref()
  }

  private master (): SkillsRepository {
    if (this.repository === undefined) throw new NotPinnedError('this node is not the mesh\'s skills master; run `mycroft-mesh skills init` on the master')
    return this.repository
  }

  /** Tells every child that takes skill updates that there is a new timestamp; returns how many were told. */
  private announce (version: number): number {
    let told = 0
    for (const child of this.link.children.values()) {
      if (!child.session.supports(SKILLS_CAPABILITY)) continue
      told++
      child.session.send(SkillsKind.update, { version }).catch(() => {})
    }
    return told
  }

  /** A new parent link (a first link, or one after the parent was away): catch up with it. */
  private parentMayHaveChanged (): void {
    const parent = this.link.parent?.session
    const key = parent === undefined ? undefined : `${parent.remotePeer}:${parent.openedAt}`
    if (key === this.lastParent) return
    this.lastParent = key
    if (parent !== undefined && this.repository === undefined && parent.supports(SKILLS_CAPABILITY)) this.scheduleUpdate()
  }

  private scheduleUpdate (): void {
    if (this.updating !== undefined) {
      this.again = true
      return
    }
    this.updating = this.update().finally(() => {
      this.updating = undefined
      if (this.again) {
        this.again = false
        this.scheduleUpdate()
      }
    })
  }

  private async update (): Promise<void> {
    const parent = this.link.parent
    if (parent === undefined || this.repository !== undefined) return
    this.counters.updates++
    let skills: VerifiedSkill[]
    let version: number
    let files: ParentFiles | undefined
    try {
      if (!this.init.mayPull(parent.peerId)) throw new NotPinnedError('this node does not take skill updates from its parent (permission push-skills is off)')
      const opened = await ParentFiles.open(this.components.connectionManager, parent.peerId)
      files = opened
      if (await this.client.pinned() === undefined && parent.houseHub) {
        // a room of a house: the house key vouches for its hub, whose root the room takes as the mesh's
        const root = await opened.fetch('metadata/root.json')
        if (root !== undefined) await this.client.pin(createHash('sha256').update(root).digest('hex'))
      }
      ({ skills, version } = await this.client.update(async path => opened.fetch(path)))
    } catch (err) {
      this.counters.refused++
      this.lastUpdate = { at: new Date().toISOString(), ok: false, reason: errorMessage(err) }
      this.repeats.note(`refused:${err instanceof Error ? err.constructor.name : 'error'}`, 'warn', { err: errorMessage(err) }, `refused a skills update from ${parent.welcome.name}: ${errorMessage(err)}`)
      return
    } finally {
      await files?.close()
    }
    const outcomes: SkillOutcome[] = []
    for (const skill of skills.filter(candidate => this.installer.needs(candidate))) {
      const at = new Date().toISOString()
      try {
        await this.installer.install(skill)
        this.counters.installed++
        this.log.info({ skill: skill.name, version: skill.version }, `installed ${skill.name} ${skill.version} (verified)`)
        this.init.bus?.notify('mesh.skill.installed', { name: skill.name, version: skill.version })
        outcomes.push({ name: skill.name, version: skill.version, status: 'installed', at })
      } catch (err) {
        this.counters.failed++
        this.log.warn({ skill: skill.name, version: skill.version, err: errorMessage(err) }, `could not install ${skill.name} ${skill.version}: ${errorMessage(err)}`)
        this.init.bus?.notify('mesh.skill.failed', { name: skill.name, version: skill.version, reason: errorMessage(err) })
        outcomes.push({ name: skill.name, version: skill.version, status: 'failed', reason: errorMessage(err), at })
      }
    }
    this.lastUpdate = { at: new Date().toISOString(), ok: true }
    if (outcomes.length > 0) {
      this.noteReport(this.init.name, outcomes)
    }
    this.announce(version)
  }

  /** Keeps a node's outcomes and passes them on up, toward the master. */
  private noteReport (node: string, outcomes: SkillOutcome[]): void {
    const known = this.reports.get(node) ?? { node, skills: {} }
    for (const outcome of outcomes) known.skills[outcome.name] = outcome
    this.reports.set(node, known)
    const parent = this.link.parent
    if (parent?.session.supports(SKILLS_CAPABILITY) === true && this.repository === undefined) parent.session.send(SkillsKind.report, { node, outcomes }).catch(() => {})
  }

  /** Serves a linked child what this node verified (or, on the master, signed). */
  private async serveFile (stream: Stream, peerId: string): Promise<void> {
    const refusal = this.link.children.has(peerId) ? undefined : 'this node serves skill updates only to its linked children'
    if (refusal !== undefined) this.repeats.note(`serve:${peerId}`, 'warn', { peer: peerId }, `refused skill files to ${peerId.slice(-8)}: only linked children are served`)
    await serveFiles(stream, refusal, async path => {
      const bytes = await readFile(join(this.repository?.served ?? this.client.served, path)).catch(() => undefined)
      if (bytes !== undefined) this.counters.served++
      return bytes
    })
  }
}
