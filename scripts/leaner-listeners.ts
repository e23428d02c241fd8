/**
 * main-event's TypedEventEmitter (every libp2p connection, stream and muxer is one) puts a closure around each
 * listener and makes an abort hook beside it, the two holding a context of their own. A hub holds some 25
 * listeners per child. The abort hook is now made only for a listener added with a signal, and a plain function
 * listener is called through a small object instead (its `handleEvent`), which, like the closure, drops what the
 * listener returns: a rejected promise stays an unhandled rejection, and does not become (as an EventTarget would
 * make it) an uncaught exception. A `once` listener, or an object of the caller's, keeps the closure. The bundle
 * (scripts/build.ts) carries this change; the emitter's class keeps its listeners in a private field, so it
 * cannot be patched from outside.
 */
const LISTENER_CALL = `class ListenerCall {
    constructor(listener) {
        this.listener = listener;
    }
    handleEvent(evt) {
        const listener = this.listener;
        listener(evt);
    }
}
export class TypedEventEmitter extends EventTarget {`

const EDITS: Array<[RegExp, string]> = [
  [/export class TypedEventEmitter extends EventTarget \{/, LISTENER_CALL],
  [/const wrapper = \(evt\) => \{/, 'const wrapper = !options.once && typeof listener === \'function\' ? new ListenerCall(listener) : (evt) => {'],
  [/const onAbort = \(\) => \{\s*this\.removeEventListener\(type, listener, options\);\s*\};\s*options\.signal\?\.addEventListener\('abort', onAbort\);/,
    'const onAbort = options.signal == null ? undefined : () => { this.removeEventListener(type, listener, options); };\n        if (onAbort !== undefined) options.signal.addEventListener(\'abort\', onAbort);']
]

/** main-event's index.js with leaner listeners, or what in it was not as expected. */
export function withLeanerListeners (source: string): string | { missing: string } {
  const missing = EDITS.filter(([pattern]) => !pattern.test(source))
  if (missing.length > 0) return { missing: missing.map(([pattern]) => pattern.source).join(', ') }
  return EDITS.reduce((text, [pattern, replacement]) => text.replace(pattern, replacement), source)
}
