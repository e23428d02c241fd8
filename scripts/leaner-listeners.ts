/**
 * main-event's TypedEventEmitter (every libp2p connection, stream and muxer is one) makes an abort hook, and a
 * context for it, with each listener, needed only when the listener was added with a signal. A hub holds some 25
 * listeners per child; made only when needed, they cost it about 1 KB of heap less per child (BENCHMARKS.md).
 * The wrapper main-event puts around each listener stays: it drops what the listener returns, so that a rejected
 * promise is an unhandled rejection, and not (as an EventTarget makes it) an uncaught exception; and Node's
 * EventTarget would wrap a handleEvent object in a closure of its own, so no lighter wrapper is to be had. The bundle
 * (scripts/build.ts) carries this change; the emitter's class keeps its listeners in a private field, so it
 * cannot be patched from outside.
 */
const EDITS: Array<[RegExp, string]> = [
  [/const onAbort = \(\) => \{\s*this\.removeEventListener\(type, listener, options\);\s*\};\s*options\.signal\?\.addEventListener\('abort', onAbort\);/,
    'const onAbort = options.signal == null ? undefined : () => { this.removeEventListener(type, listener, options); };\n        if (onAbort !== undefined) options.signal.addEventListener(\'abort\', onAbort);']
]

/** main-event's index.js with leaner listeners, or what in it was not as expected. */
export function withLeanerListeners (source: string): string | { missing: string } {
  const missing = EDITS.filter(([pattern]) => !pattern.test(source))
  if (missing.length > 0) return { missing: missing.map(([pattern]) => pattern.source).join(', ') }
  return EDITS.reduce((text, [pattern, replacement]) => text.replace(pattern, replacement), source)
}
