import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { UserError, errorMessage, writeFileAtomic } from '../common/index.ts'
import { startDashboard, type Dashboard } from '../observe/index.ts'
import type { Refusal } from '../access/index.ts'
import type { TransferState } from '../files/index.ts'
import type { AskRecord } from '../routing/index.ts'
import { hostAndPort } from './config.ts'
import type { MeshTree } from './tree.ts'

export const DEFAULT_DASHBOARD = '127.0.0.1:9478'
const KEPT = 50

export interface LivePageInit {
  /** where its token is kept, so that a page left open comes back after a restart */
  tokenPath: string
  tree: () => MeshTree
  transfers: () => TransferState[]
}

/**
 * The node's side of the live page: the recent questions and refusals it keeps for it, and the page's server,
 * started when the owner asks for it (`mycroft-mesh dashboard`) or with the node (`--dashboard`).
 */
export class LivePage {
  private readonly init: LivePageInit
  private readonly asks: AskRecord[] = []
  private readonly refusals: Refusal[] = []
  private dashboard?: Dashboard

  constructor (init: LivePageInit) {
    this.init = init
  }

  asked (record: AskRecord): void {
    this.asks.unshift(record)
    this.asks.length = Math.min(this.asks.length, KEPT)
    this.dashboard?.publish('ask', record)
  }

  refused (refusal: Refusal): void {
    this.refusals.unshift(refusal)
    this.refusals.length = Math.min(this.refusals.length, KEPT)
    this.dashboard?.publish('refusal', refusal)
  }

  transferred (transfer: TransferState): void {
    this.dashboard?.publish('transfer', transfer)
  }

  /** The page's URL, starting its server at `listen` (HOST:PORT) if it is not running yet. */
  async start (listen: string): Promise<string> {
    if (this.dashboard !== undefined) return this.dashboard.url
    try {
      this.dashboard = await startDashboard({
        listen: hostAndPort(listen),
        token: await this.token(),
        state: () => ({ tree: this.init.tree(), asks: this.asks, refusals: this.refusals, transfers: this.init.transfers().slice(0, KEPT) })
      })
    } catch (err) {
      throw new UserError(`cannot serve the live page at ${listen}: ${errorMessage(err)}; pick another address with --dashboard HOST:PORT (config "dashboard")`)
    }
    return this.dashboard.url
  }

  async stop (): Promise<void> {
    await this.dashboard?.close()
    this.dashboard = undefined
  }

  private async token (): Promise<string> {
    const kept = (await readFile(this.init.tokenPath, 'utf8').catch(() => '')).trim()
    if (/^[\w-]{32}$/.test(kept)) return kept
    const token = randomBytes(24).toString('base64url')
    await writeFileAtomic(this.init.tokenPath, `${token}\n`)
    return token
  }
}
