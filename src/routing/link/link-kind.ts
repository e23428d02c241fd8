import type { LinkCapability, Need } from './capability.ts'
import type { Envelope } from './envelope.ts'
import type { Link } from './index.ts'
import type { LinkSession } from './link-session.ts'
import type { Startable } from '@libp2p/interface'

/**
 * What every link kind does the same way: it keeps the link service (libp2p's components are a proxy that looks
 * each service up by name on every read), serves its kinds from `start()` and stops serving them in `stop()`.
 */
export abstract class LinkKindService implements LinkCapability, Startable {
  abstract readonly capability: string
  abstract readonly kinds: readonly string[]
  protected readonly link: Link

  constructor (link: Link) {
    this.link = link
  }

  /** A kind with work of its own to start (files to read) awaits this, then does it. */
  start (): Promise<void> {
    this.link.serve(this)
    return Promise.resolve()
  }

  stop (): void {
    this.link.unserve(this)
  }

  abstract needs (envelope: Envelope): Need | undefined
  abstract handle (envelope: Envelope, session: LinkSession): void | Promise<void>
}
