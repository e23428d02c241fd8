/**
 * main-event's TypedEventEmitter (every libp2p connection, stream and muxer is one) keeps two closures and their
 * context for each listener: a wrapper, needed only for a `once` listener or an object with handleEvent, and an
 * abort hook, needed only with a signal. A hub holds some 25 listeners per child; made only when needed, they
 * cost it about 3 KB of heap less per child (BENCHMARKS.md). A function listener is then called by the
 * EventTarget itself, with the emitter as `this` rather than none. The bundle (scripts/build.ts) carries this
 * change; the emitter's class keeps its listeners in a private field, so it cannot be patched from outside.
 */
const EDITS: Array<[RegExp, string]> = [
  [/const wrapper = \(evt\) => \{/, 'const wrapper = !options.once && typeof listener === \'function\' ? listener : (evt) => {'],
  [/const onAbort = \(\) => \{\s*this\.removeEventListener\(type, listener, options\);\s*\};\s*options\.signal\?\.addEventListener\('abort', onAbort\);/,
    'const onAbort = options.signal == null ? undefined : () => { this.removeEventListener(type, listener, options); };\n        if (onAbort !== undefined) options.signal.addEventListener(\'abort\', onAbort);']
]

/** main-event's index.js with leaner listeners, or what in it was not as expected. */
export function withLeanerListeners (source: string): string | { missing: string } {
  const missing = EDITS.filter(([pattern]) => !pattern.test(source))
  if (missing.length > 0) return { missing: missing.map(([pattern]) => pattern.source).join(', ') }
  return EDITS.reduce((text, [pattern, replacement]) => text.replace(pattern, replacement), source)
}
