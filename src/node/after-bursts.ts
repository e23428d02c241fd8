/** Links opened or closed in a row before the node counts it a burst. */
const BURST_CHANGES = 64
/** How long the links must stay as they are before the burst counts as over. */
const SETTLED_MS = 5_000

/**
 * Collects the garbage of a burst of links once it is over. A thousand handshakes (a hub restarting, a house
 * waking up) leave tens of MB of garbage that V8 keeps until its next full collection, which an idle hub may not
 * reach for hours: its RSS then says twice what its children cost it. `start` exposes V8's collector to the node
 * (bin/mycroft-mesh.js); without it, this does nothing.
 */
export function collectAfterBursts (onChange: (listener: () => void) => () => void): () => void {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) return () => {}
  let changes = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const stopListening = onChange(() => {
    changes++
    if (changes < BURST_CHANGES) return
    clearTimeout(timer)
    timer = setTimeout(() => {
      changes = 0
      // a second pass frees what the first one's finalizers let go
      collect()
      collect()
    }, SETTLED_MS)
    timer.unref()
  })
  return () => {
    clearTimeout(timer)
    stopListening()
  }
}
