import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { mplex } from '@libp2p/mplex'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import { batchYamuxWindowUpdates, linearGetConnections, oneWritePerMessage, renewDrainWaits } from './libp2p-fixes.ts'
import { noiseCrypto } from './noise-crypto.ts'
import { UserError, errorMessage, type Logger } from '../common/index.ts'
import { HEARTBEAT_INTERVAL_MS, QUIET_BEATS } from '../routing/index.ts'
import type { ConnectionGater, PrivateKey, ServiceMap } from '@libp2p/interface'

export type MuxerName = 'yamux' | 'mplex'

/**
 * TCP's keep-alive finds a vanished peer on an idle link at no cost to the process: the kernel probes after
 * this long without a packet, then (libuv's choice) every second, ten times, so the socket fails within 13 s.
 * It cannot see a link with data in flight (TCP retransmits instead, for minutes): the link's heartbeat does.
 */
export const TCP_KEEPALIVE_IDLE_MS = 3_000

export interface StackInit<S extends ServiceMap> {
  log: Logger
  privateKey?: PrivateKey
  listen?: string[]
  /** in order of preference; yamux first, mplex for old peers */
  muxers?: MuxerName[]
  connectionGater?: ConnectionGater
  maxConnections?: number
  /** new inbound connections per second from one address before more are refused */
  maxInboundPerIpPerSecond?: number
  /** the links' heartbeat interval, by which an idle socket is judged (default: the link's default) */
  heartbeatMs?: number
  /** libp2p's own metrics (`@libp2p/prometheus-metrics`), when the node serves metrics */
  metrics?: Libp2pOptions<S>['metrics']
  services: Libp2pOptions<S>['services']
}

/**
 * The libp2p stack every mesh node runs — TCP, Noise, yamux then mplex, the fixes of libp2p-fixes.ts — in one
 * place, so that the node, the tests' bare peers and the benchmarks' swarms all run the same stack.
 */
export async function createMeshLibp2p<S extends ServiceMap> (init: StackInit<S>): Promise<Libp2p<S>> {
  batchYamuxWindowUpdates(init.log)
  renewDrainWaits(init.log)
  // TCP's keep-alive and the link's heartbeat find dead links; yamux's keep-alive would add a ping each way on
  // every connection every 30 s on top of them, each a wake-up of a hub for every child
  const muxers = { yamux: () => yamux({ enableKeepAlive: false }), mplex }
  const options: Libp2pOptions<S> = {
    privateKey: init.privateKey,
    addresses: { listen: init.listen ?? [] },
    transports: [tcp({ dialOpts: tcpKeepAlive, listenOpts: tcpKeepAlive, ...socketIdleTimeouts(init.heartbeatMs ?? HEARTBEAT_INTERVAL_MS) })],
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    streamMuxers: (init.muxers ?? ['yamux', 'mplex']).map(name => muxers[name]()),
    connectionGater: init.connectionGater,
    metrics: init.metrics,
    // TCP's keep-alive and the link's heartbeat find dead links; libp2p's monitor would also open a stream on
    // every connection every 10 s and abort any whose ping waits over 5 s, which is every child of a hub under load
    connectionMonitor: { enabled: false },
    connectionManager: {
      maxConnections: init.maxConnections,
      maxIncomingPendingConnections: 256,
      inboundConnectionThreshold: init.maxInboundPerIpPerSecond
    },
    services: init.services
  }
  const node = await createLibp2p(options).catch((err: unknown) => { throw listenError(err, init.listen ?? []) })
  linearGetConnections(node, init.log)
  oneWritePerMessage(node, init.log)
  return node
}

const tcpKeepAlive = { keepAlive: true, keepAliveInitialDelay: TCP_KEEPALIVE_IDLE_MS }

/**
 * @libp2p/tcp closes a socket that carried nothing for 2 minutes; an idle link says something only once in
 * QUIET_BEATS heartbeats (2 minutes by default), so its socket is given three times that (the other end's
 * heartbeat may be slower than this node's).
 */
function socketIdleTimeouts (heartbeatMs: number): { inboundSocketInactivityTimeout: number, outboundSocketInactivityTimeout: number } {
  const idleMs = 3 * QUIET_BEATS * heartbeatMs
  return { inboundSocketInactivityTimeout: idleMs, outboundSocketInactivityTimeout: idleMs }
}

function listenError (err: unknown, listen: string[]): Error {
  const message = errorMessage(err)
  if (/EADDRINUSE|address already in use/i.test(message)) {
    return new UserError(`cannot listen on ${listen.join(', ')}: the port is taken by another program; pick another with --listen /ip4/0.0.0.0/tcp/PORT`)
  }
  if (/EADDRNOTAVAIL|EACCES/i.test(message)) {
    return new UserError(`cannot listen on ${listen.join(', ')}: ${message}; check the address belongs to this machine, or use a port above 1024`)
  }
  return err instanceof Error ? err : new Error(message)
}
