/** A bare libp2p node with the link service, as the nodes assemble it (TCP, Noise, yamux then mplex). */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { mplex } from '@libp2p/mplex'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { pino } from 'pino'
import { batchYamuxWindowUpdates } from '../../src/node/index.ts'
import { link, type LinkService } from '../../src/routing/index.ts'

export async function linkPeer (name: string, listen: string[] = []): Promise<Libp2p<{ link: LinkService }>> {
  batchYamuxWindowUpdates()
  return createLibp2p({
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux(), mplex()],
    services: { link: link({ self: { name, version: 'bench', capabilities: [] }, log: pino({ level: 'warn' }) }) }
  })
}
