/** The context key under which the mesh tags what it injects, so no bridge ever asks about it. */
export const MESH_CONTEXT_KEY = 'mycroft_mesh'

export const DEFAULT_SKILL_ID = 'mycroft-mesh.bridge'
/** Below the stock "I don't know" fallback (100), so the mesh is asked first. */
export const DEFAULT_FALLBACK_PRIORITY = 95
export const DEFAULT_SAFETY_NET_MS = 20_000
/** A child's question put on this node's bus: when nothing on the bus says a word of it this long, no assistant is there. */
export const ASSISTANT_SILENCE_MS = 3_000

/** The stock OVOS catch-all; left out of children's sessions so that "I don't know" reaches the mesh instead. */
export const DEFAULT_CATCH_ALL_FALLBACKS = ['ovos-skill-fallback-unknown.openvoiceos']
/** Message types a parent's skill may send a child later, by naming it in `context.destination`. */
export const DEFAULT_DELIVERED_TYPES = ['speak']

export const DEFAULT_BUS_PORT = 8181
export const BUS_PATH = '/core'
export const DEFAULT_BUS_URL = `ws://127.0.0.1:${DEFAULT_BUS_PORT}${BUS_PATH}`
/** How long `auto` waits for a bus at the default address before hosting its own. */
export const PROBE_TIMEOUT_MS = 1_000

/** A bridge asks on the bus it joins whether another mesh node bridges it already; each bridge answers. */
export const BRIDGE_PING = 'mesh.bridge.ping'
export const BRIDGE_PONG = 'mesh.bridge.pong'
/** How long a bridge waits for the bus to connect, then for another bridge to answer, before it goes on. */
export const BUS_CONNECT_WAIT_MS = 2_000
export const BRIDGE_ANSWER_WAIT_MS = 300
