export { BusBridge, probeBus, DEFAULT_BUS_URL, type BusBridgeInit, type BusMode, type BusStatus } from './bridge.ts'
export { BusClient } from './bus-client.ts'
export type { BusClientCounters, BusState, MessageBus } from './bus.ts'
export { EmbeddedBus, DEFAULT_BUS_PORT, BUS_PATH } from './bus-server.ts'
export {
  UnhandledDetector, defaultDetectorOptions, isMeshTagged, MESH_CONTEXT_KEY, DEFAULT_SKILL_ID, DEFAULT_FALLBACK_PRIORITY, DEFAULT_SAFETY_NET_MS,
  type DetectorOptions, type Unhandled, type Signal
} from './detector.ts'
export { ChildAnswerer, DEFAULT_CATCH_ALL_FALLBACKS, DEFAULT_DELIVERED_TYPES, type ChildRef, type SpokenAnswer } from './answerer.ts'
export { parseBusMessage, forward, reply, sessionId, type BusMessage } from './message.ts'
