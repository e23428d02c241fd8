/**
 * Costs of libp2p 3.3 that profiling found, each fixed here until it is fixed upstream. Both reach into
 * private internals, so the packages are pinned to exact versions in package.json, and each fix checks the
 * internals it patches before it applies: a fix that cannot apply says so at warn level, naming the package
 * and its version, and the node runs on without it (slower, never wrong).
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { AbstractMessageStream } from '@libp2p/utils'
import type { Logger } from '../common/index.ts'
import type { Libp2p } from 'libp2p'

/** The version of an installed package, read from its package.json (which the packages do not export). */
export function installedVersion (pkg: string): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(pkg)))
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string, version?: string }
      if (manifest.name === pkg) return manifest.version ?? '?'
    } catch {
      // no package.json in this folder: look one up
    }
    const up = dirname(dir)
    if (up === dir) return '?'
    dir = up
  }
}

function cannotApply (log: Logger, fix: string, pkg: string, why: string): void {
  log.warn({ fix, package: pkg, version: installedVersion(pkg) }, `libp2p fix '${fix}' cannot apply to ${pkg} ${installedVersion(pkg)} (${why}); running without it: check the fix against this version`)
}

type ConnectionLister = { getConnections: (peer?: unknown) => unknown[], getConnectionsMap: () => { values: () => Iterable<unknown[]> } }

/**
 * ConnectionManager.getConnections() builds its list with `conns = conns.concat(c)` one peer at a time, O(n²)
 * in the connections, and runs twice for every inbound connection: at 3,000 children it was a hub's largest
 * single cost. Same result, in linear time. Upstream: no js-libp2p issue for it yet.
 */
export function linearGetConnections (node: Libp2p, log: Logger): boolean {
  const manager = (node as unknown as { components?: { connectionManager?: Partial<ConnectionLister> } }).components?.connectionManager
  if (typeof manager?.getConnections !== 'function' || typeof manager.getConnectionsMap !== 'function') {
    cannotApply(log, 'linear getConnections', 'libp2p', 'its connection manager has no getConnections/getConnectionsMap')
    return false
  }
  const lister = manager as ConnectionLister
  const byPeer = lister.getConnections.bind(lister)
  lister.getConnections = (peer?: unknown) => peer != null ? byPeer(peer) : [...lister.getConnectionsMap().values()].flat()
  return true
}

let windowUpdatesBatched: boolean | undefined

/**
 * @chainsafe/libp2p-yamux 8 answers every data frame with a window update: twice the frames on a link, each its
 * own Noise message, write and wake-up of the far end. Like Go's yamux (the reference of the spec), a stream
 * now waits until half its receive window is used before it gives it back. Upstream: the same change in
 * rust-yamux is libp2p/rust-yamux#100 (merged as #109); no js-libp2p-yamux issue yet.
 */
export function batchYamuxWindowUpdates (log: Logger): boolean {
  if (windowUpdatesBatched !== undefined) return windowUpdatesBatched
  interface Windowed { state: StreamState, recvWindow: number, recvWindowCapacity: number }
  const stream = YamuxStream.prototype as unknown as { sendWindowUpdate?: (this: Windowed) => void }
  const sendWindowUpdate = stream.sendWindowUpdate
  if (typeof sendWindowUpdate !== 'function' || StreamState?.Established === undefined) {
    cannotApply(log, 'batched window updates', '@chainsafe/libp2p-yamux', 'YamuxStream has no sendWindowUpdate, or StreamState no Established')
    windowUpdatesBatched = false
    return false
  }
  let fieldsChecked = false
  stream.sendWindowUpdate = function (this: Windowed) {
    // the window fields live on each stream, so the first stream that gives its window back is checked
    if (!fieldsChecked) {
      fieldsChecked = true
      if (typeof this.recvWindow !== 'number' || typeof this.recvWindowCapacity !== 'number') {
        cannotApply(log, 'batched window updates', '@chainsafe/libp2p-yamux', 'its streams have no recvWindow/recvWindowCapacity')
        stream.sendWindowUpdate = sendWindowUpdate
        sendWindowUpdate.call(this)
        return
      }
    }
    if (this.state === StreamState.Established && this.recvWindowCapacity * 2 > this.recvWindow) return
    sendWindowUpdate.call(this)
  }
  windowUpdatesBatched = true
  return true
}

let drainWaitsRenewed: boolean | undefined
/** What a stream may hold unsent before a writer's `onDrain()` really waits. */
const WRITE_AHEAD_BYTES = 256 * 1024

/**
 * @libp2p/utils 7.4 makes one promise for `onDrain()` and keeps it once it has resolved: after a stream's first
 * drain, every later `onDrain()` resolves at once while the stream is still full, so a writer that waits on it
 * no longer waits at all. A sender of a 256 MiB file held 130 MiB in its stream's write buffer (a heap snapshot
 * showed the chunks there), and a link flooded by its bus queued without bound. Each wait now gets a promise of
 * its own, dropped as it settles; below WRITE_AHEAD_BYTES queued a writer goes on at once, as before. Upstream: no
 * js-libp2p issue for it yet.
 */
export function renewDrainWaits (log: Logger): boolean {
  if (drainWaitsRenewed !== undefined) return drainWaitsRenewed
  interface Draining { writableNeedsDrain: boolean, writeBufferLength: number, onDrainPromise?: PromiseWithResolvers<void> }
  const proto = AbstractMessageStream.prototype as unknown as { onDrain?: (this: Draining, options?: unknown) => Promise<void> }
  const onDrain = proto.onDrain
  if (typeof onDrain !== 'function') {
    cannotApply(log, 'a promise per drain wait', '@libp2p/utils', 'AbstractMessageStream has no onDrain')
    drainWaitsRenewed = false
    return false
  }
  let fieldsChecked = false
  proto.onDrain = function (this: Draining, options?: unknown) {
    // the promise is a field of each stream, so the first stream that waits is checked
    if (!fieldsChecked) {
      fieldsChecked = true
      if (!('onDrainPromise' in this) || typeof this.writableNeedsDrain !== 'boolean' || typeof this.writeBufferLength !== 'number') {
        cannotApply(log, 'a promise per drain wait', '@libp2p/utils', 'its streams have no onDrainPromise/writableNeedsDrain/writeBufferLength')
        proto.onDrain = onDrain
        return onDrain.call(this, options)
      }
    }
    // with little queued the writer goes on, so the muxer has the next bytes at hand the moment it may send them
    if (this.writeBufferLength < WRITE_AHEAD_BYTES) return Promise.resolve()
    if (this.writableNeedsDrain && this.onDrainPromise === undefined) {
      const waiting = Promise.withResolvers<void>()
      const settled = <T>(settle: (value: T) => void) => (value: T): void => {
        if (this.onDrainPromise === wait) this.onDrainPromise = undefined
        settle(value)
      }
      const wait: PromiseWithResolvers<void> = { promise: waiting.promise, resolve: settled(waiting.resolve), reject: settled(waiting.reject) }
      this.onDrainPromise = wait
    }
    return onDrain.call(this, options)
  }
  drainWaitsRenewed = true
  return true
}

type SocketConnection = { socket?: { cork?: () => void, uncork?: () => void }, sendData?: (data: unknown) => unknown }
const writesCoalesced = new WeakSet<object>()

/**
 * @libp2p/tcp 11 writes each buffer of a message with its own `socket.write`, and Noise hands it every message as
 * two (the length, then the ciphertext): two system calls, and with Nagle off two packets, for each frame a link
 * sends, a heartbeat's pong included. The socket is now corked while one
 * message is written, so it leaves in one writev. The TCP connection class is not exported, so it is patched
 * through the first connection that opens. Upstream: no js-libp2p issue for it yet.
 */
export function oneWritePerMessage (node: Libp2p, log: Logger): void {
  const patch = (event: CustomEvent<unknown>): void => {
    const maConn = (event.detail as { maConn?: unknown }).maConn
    if (typeof maConn !== 'object' || maConn === null) return
    const proto = Object.getPrototypeOf(maConn) as SocketConnection
    node.removeEventListener('connection:open', patch)
    if (writesCoalesced.has(proto)) return
    writesCoalesced.add(proto)
    const sendData = proto.sendData
    const socket = (maConn as SocketConnection).socket
    if (typeof sendData !== 'function' || typeof socket?.cork !== 'function' || typeof socket.uncork !== 'function') {
      cannotApply(log, 'one write per message', '@libp2p/tcp', 'its connections have no sendData, or no socket to cork')
      return
    }
    proto.sendData = function (this: Required<SocketConnection>, data: unknown) {
      const corked = this.socket
      corked.cork?.()
      try {
        return sendData.call(this, data)
      } finally {
        corked.uncork?.()
      }
    }
  }
  node.addEventListener('connection:open', patch)
}
