/** A bare libp2p node with the link service alone, on the stack every mesh node runs. */
import { pino } from 'pino'
import { createMeshLibp2p } from '../src/node/index.ts'
import { FigureRegistry } from '../src/observe/index.ts'
import { link, type Envelope, type Link, type LinkSession } from '../src/routing/index.ts'
import type { Libp2p } from 'libp2p'

export async function linkPeer (name: string, listen: string[] = []): Promise<Libp2p<{ link: Link }>> {
  const log = pino({ level: 'warn' })
  return createMeshLibp2p({
    log,
    listen,
    services: { link: link({ self: { name, version: 'bench' }, log, figures: new FigureRegistry() }) }
  })
}

/** Serves envelopes of one kind on a bare link, with no permission asked: a capability of one line. */
export function serveKind (on: Link, kind: string, handle: (envelope: Envelope, session: LinkSession) => void): void {
  on.serve({ capability: kind, kinds: [kind], needs: () => undefined, handle })
}
