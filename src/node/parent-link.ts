import { errorMessage, runReconnectLoop, UserError, type BackoffOptions, type Logger } from '../common/index.ts'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { LinkRefusedError, type Link, type ParentLinkSession } from '../routing/index.ts'
import { saveJoined, type NodeConfig } from './config.ts'
import type { InviteToken, TrustStore } from '../access/index.ts'
import type { HubSighting } from '../house/index.ts'

/** One dial-and-hello attempt may take this long before it counts as failed. */
const ATTEMPT_TIMEOUT_MS = 5_000
/** A hub found on the LAN that could not be linked is passed over this long, while others are tried. */
const FAILED_HUB_PAUSE_MS = 30_000
/** After a refusal, ask again this rarely: the parent's owner has to act first. */
const REFUSED_RETRY_MS = 60_000
/** A node that waits for its house's hub says it still does this often. */
const LOOKING_NOTE_MS = 30_000

export type ParentState = 'none' | 'connecting' | 'linked'

export interface ParentStatus {
  state: ParentState
  addr: string | null
  peerId: string | null
  name: string | null
  /** when the current state began (ISO 8601) */
  since: string | null
  rttMs: number | null
  /** what the parent holds this node to (frames per second, questions in flight …), as it said last */
  limits: Record<string, number> | null
  /** failed attempts since the link was last up */
  attempts: number
  lastError: string | null
}

/**
 * Where the parent is: every address an invite names (pinned to its peer id), or the one in the config.
 * A config address without a peer id is taken, with a warning: any node at that address would do.
 */
function parentAddrs (join: InviteToken | undefined, parent: string | null, log: Logger): Multiaddr[] {
  if (join !== undefined) return join.addrs.map(addr => multiaddr(`${addr.replace(/\/p2p\/.*$/, '')}/p2p/${join.peerId}`))
  if (parent === null) return []
  if (!parent.includes('/p2p/')) {
    log.warn({ parent }, 'the parent address names no peer id, so any node at that address is taken as the parent; add /p2p/<peer id> to pin it')
  }
  return [multiaddr(parent)]
}

/** A root: no parent to link to. */
export const NO_PARENT: ParentStatus = { state: 'none', addr: null, peerId: null, name: null, since: null, rttMs: null, limits: null, attempts: 0, lastError: null }

export interface ParentLinkInit {
  link: Link
  /** joining: the invite names the parent's addresses, and its secret is presented until the parent welcomes us */
  join?: InviteToken
  /** otherwise the parent in the config, if any */
  parent: string | null
  backoff: BackoffOptions
  log: Logger
  /** where the parent is remembered: by peer id in the trust store, and in the config once joined */
  store: Pick<TrustStore, 'remember'>
  configPath: string
  /** what makes this node itself, saved beside the parent once it has joined */
  self: Pick<NodeConfig, 'name' | 'listen' | 'bus'>
  /** the invite was refused: the node cannot go on */
  onFatal?: (err: UserError) => void
}

/**
 * Keeps this node linked to its parent: dials, says hello, and when the link drops or a dial fails, tries
 * again after a capped, jittered, growing pause. libp2p's own redial gives up after a few tries; this does not.
 */
export class ParentLink {
  private readonly init: ParentLinkInit
  private readonly log: Logger
  private readonly controller = new AbortController()
  private state: ParentState = 'connecting'
  private since = Date.now()
  private attempts = 0
  private lastError: string | null = null
  private current?: ParentLinkSession
  private lastPeer?: { peerId: string, name: string }
  private addrs: Multiaddr[]
  private running?: Promise<void>
  private invite?: string
  /** the parent's peer id, when the config or the invite pins it or it was found: only that node is the parent */
  private pinned?: string
  /** the parent was found, not given: it is saved as this node's parent (and pinned) once it has welcomed us */
  private found = false
  private looking?: ReturnType<typeof setInterval>
  /**
   * Hubs found on the LAN whose link failed, until when they are passed over: a forged mDNS answer (the tag is public)
   * points at a node without the house key, and must not keep a room from the real hub.
   */
  private readonly failedHubs = new Map<string, number>()
  private candidate?: string
  /** the found hub the attempt under way dials (a newer sighting may change `candidate` meanwhile) */
  private attempting?: string
  /** the parent being written down (trust store, config): a stop waits for it */
  private remembering?: Promise<void>
  /** the config or an invite names the parent: mDNS may only tell where it moved */
  private readonly configured: boolean
  /** ends the reconnect loop's pause when a hub is found somewhere new: no waiting out a pause meant for the old place */
  private wake = new AbortController()

  constructor (init: ParentLinkInit) {
    this.init = init
    this.log = init.log
    this.addrs = parentAddrs(init.join, init.parent, init.log)
    this.invite = init.join?.secret
    this.pinned = this.addrs.map(addr => addr.getComponents().find(component => component.name === 'p2p')?.value).find(peerId => peerId !== undefined)
    this.configured = this.addrs.length > 0
  }

  get session (): ParentLinkSession | undefined {
    return this.current
  }

  /**
   * Starts linking, unless this node has no parent to link to; one that waits for its house's hub to be found
   * says so, and again every half minute while it is not.
   */
  start ({ looksForHub = false }: { looksForHub?: boolean } = {}): void {
    if (this.addrs.length > 0) {
      this.running ??= this.run()
      return
    }
    if (!looksForHub) return
    const started = Date.now()
    this.log.info('looking for the house\'s hub on the LAN (mDNS) …')
    this.looking = setInterval(() => {
      if (this.found) {
        clearInterval(this.looking)
        return
      }
      this.log.info(`still looking for the house's hub after ${Math.round((Date.now() - started) / 1000)} s: is it running, with the same house key, on this network?`)
    }, LOOKING_NOTE_MS)
    this.looking.unref()
  }

  /**
   * A hub of the house was seen on the LAN. A node with no parent of its own takes it as its parent; a node whose
   * pinned parent it is learns where it is now (its saved address may have gone stale). Any other hub is not ours.
   */
  offer (hub: HubSighting): void {
    if (this.pinned !== undefined ? hub.peerId !== this.pinned : this.current !== undefined || this.configured) return
    if ((this.failedHubs.get(hub.peerId) ?? 0) > Date.now()) return
    const addrs = hub.addrs.map(addr => multiaddr(`${addr.toString().replace(/\/p2p\/.*$/, '')}/p2p/${hub.peerId}`))
    if (addrs.map(String).join() === this.addrs.map(String).join()) return
    if (this.pinned === undefined) {
      this.found = true
      this.candidate = hub.peerId
      const ip = addrs[0]?.toString().split('/')[2] ?? '?'
      this.log.info({ hub: hub.peerId, addrs: addrs.map(String) }, `found the house's hub at ${ip}; linking to it`)
    } else if (this.current === undefined) {
      this.log.info({ parent: hub.peerId, addrs: addrs.map(String) }, 'found this node\'s parent on the LAN at a new address')
    }
    this.addrs = addrs
    this.wake.abort()
    this.running ??= this.run()
  }

  async stop (reason = 'the child is shutting down'): Promise<void> {
    clearInterval(this.looking)
    this.controller.abort()
    await this.current?.session.close(reason)
    await this.running
    // a node stopped right after joining still keeps its parent
    await this.remembering
  }

  status (): ParentStatus {
    if (this.addrs.length === 0) return NO_PARENT
    const session = this.current
    return {
      state: this.state,
      addr: session?.remoteAddr ?? this.addrs.map(addr => addr.toString()).join(' '),
      peerId: session?.peerId ?? this.lastPeer?.peerId ?? null,
      name: session?.welcome.name ?? this.lastPeer?.name ?? null,
      since: new Date(this.since).toISOString(),
      rttMs: session?.session.rttMs ?? null,
      limits: session?.limits ?? null,
      attempts: this.attempts,
      lastError: this.lastError
    }
  }

  private enter (state: ParentState): void {
    if (this.state === state) return
    this.state = state
    this.since = Date.now()
  }

  private async run (): Promise<void> {
    await runReconnectLoop<ParentLinkSession>({
      signal: this.controller.signal,
      wake: () => {
        this.wake = new AbortController()
        return this.wake.signal
      },
      backoff: this.init.backoff,
      retryDelayMs: (err, backoffMs) => {
        if (!(err instanceof LinkRefusedError)) return backoffMs
        // told when to come back (busy, too many links a minute): then, not in a minute
        return err.retryAfterMs !== undefined ? Math.max(backoffMs, err.retryAfterMs) : Math.max(backoffMs, REFUSED_RETRY_MS)
      },
      connect: async signal => {
        this.enter('connecting')
        this.attempting = this.found ? this.candidate : undefined
        return this.init.link.linkToParent(this.addrs, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]),
          invite: this.invite,
          // a hub found on the LAN must prove it is this house's: the tag it answered to is public
          hub: this.found
        })
      },
      closed: async session => session.session.closed,
      onUp: session => {
        this.current = session
        this.lastPeer = { peerId: session.peerId, name: session.welcome.name }
        this.attempts = 0
        this.lastError = null
        this.enter('linked')
        this.log.info({ parent: session.peerId, addr: session.remoteAddr }, `linked to parent ${session.welcome.name}`)
        this.remembering = this.remember(session, this.invite !== undefined || this.found)
        if (this.found) this.pinned = session.peerId
        this.invite = undefined
        this.found = false
      },
      onDown: reason => {
        this.current = undefined
        this.lastError = reason
        this.enter('connecting')
        this.log.warn({ reason }, `link to parent lost (${reason}); re-linking`)
      },
      onFailure: (err, attempt, delayMs) => {
        // the addresses may have changed since the loop began: a hub found on the LAN moved, or another was found
        const addr = this.addrs.map(one => one.toString()).join(' ')
        this.attempts = attempt
        // the hub this attempt dialled, not one sighted while it was under way
        if (this.attempting !== undefined) this.failedHubs.set(this.attempting, Date.now() + FAILED_HUB_PAUSE_MS)
        if (err instanceof LinkRefusedError) {
          this.lastError = `refused: ${err.message}`
          this.log.error({ addr, code: err.code, retryInMs: delayMs }, `parent ${this.lastPeer?.name ?? addr} refused: ${err.message}`)
          if (this.invite !== undefined) this.init.onFatal?.(new UserError(`parent ${this.init.join?.peerId ?? ''} refused this node: ${err.message}`))
          return
        }
        this.lastError = `unreachable: ${describeDialError(err)}`
        this.log.warn({ addr, attempt, retryInMs: delayMs }, `parent ${addr} ${this.lastError}; retrying in ${(delayMs / 1000).toFixed(1)} s`)
      }
    })
    this.current = undefined
  }

  private async remember (session: ParentLinkSession, joined: boolean): Promise<void> {
    try {
      await this.init.store.remember(session.peerId, session.welcome.name, 'parent')
      if (!joined) return
      const addr = session.remoteAddr.includes('/p2p/') ? session.remoteAddr : `${session.remoteAddr}/p2p/${session.peerId}`
      await saveJoined(this.init.configPath, { ...this.init.self, parent: addr })
      this.log.info({ parent: addr, config: this.init.configPath }, `joined ${session.welcome.name}; saved it as this node's parent, with this node's name, listen addresses and bus, so a plain start comes back as the same node`)
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'could not record the parent')
    }
  }
}

/** A dial error in words: a different node answering at a pinned address is not "unreachable". */
function describeDialError (err: unknown): string {
  const message = errorMessage(err)
  if (/peer id|UnexpectedPeer|InvalidPeerId/i.test(message) || (err as { name?: string }).name === 'UnexpectedPeerError') {
    return `a different node answers at that address than the pinned parent (${message}); if the parent was reinstalled, join it again with a new invite`
  }
  if (/EncryptionFailed|Encryption failed/i.test(message) || (err as { name?: string }).name === 'EncryptionFailedError') {
    return `the parent hung up during the handshake (${message}); it may refuse this node's address, or have no room for more connections`
  }
  return message
}
