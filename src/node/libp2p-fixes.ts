/**
 * Costs of libp2p 3.3 that profiling found, each fixed here until it is fixed upstream.
 */
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import type { Libp2p } from 'libp2p'

/**
 * ConnectionManager.getConnections() builds its list with `conns = conns.concat(c)` one peer at a time, O(n²)
 * in the connections, and runs twice for every inbound connection: at 3,000 children it was a hub's largest
 * single cost. Same result, in linear time.
 */
export function linearGetConnections (node: Libp2p): void {
  type Manager = { getConnections: (peer?: unknown) => unknown[], getConnectionsMap: () => { values: () => Iterable<unknown[]> } }
  const manager = (node as unknown as { components?: { connectionManager?: Manager } }).components?.connectionManager
  if (manager === undefined) return
  const byPeer = manager.getConnections.bind(manager)
  manager.getConnections = (peer?: unknown) => peer != null ? byPeer(peer) : [...manager.getConnectionsMap().values()].flat()
}

let windowUpdatesBatched = false

/**
 * @chainsafe/libp2p-yamux 8 answers every data frame with a window update: twice the frames on a link, each its
 * own Noise message, write and wake-up of the far end. Like Go's yamux (the reference of the spec), a stream
 * now waits until half its receive window is used before it gives it back.
 */
export function batchYamuxWindowUpdates (): void {
  if (windowUpdatesBatched) return
  windowUpdatesBatched = true
  interface Windowed { state: StreamState, recvWindow: number, recvWindowCapacity: number }
  const stream = YamuxStream.prototype as unknown as { sendWindowUpdate: (this: Windowed) => void }
  const sendWindowUpdate = stream.sendWindowUpdate
  stream.sendWindowUpdate = function (this: Windowed) {
    if (this.state === StreamState.Established && this.recvWindowCapacity * 2 > this.recvWindow) return
    sendWindowUpdate.call(this)
  }
}
