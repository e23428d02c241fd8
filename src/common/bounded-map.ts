/**
 * Sets `key` as the newest entry of `map`, forgetting the oldest ones beyond `max`: for maps keyed by what peers
 * or a bus send (peer ids, session ids), which must not grow without bound however many a flood invents.
 */
export function setBounded<K, V> (map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key)
  map.set(key, value)
  for (const oldest of map.keys()) {
    if (map.size <= max) break
    map.delete(oldest)
  }
}
