/**
 * The bundle's edit of main-event (scripts/leaner-listeners.ts), applied to the installed main-event and run: its
 * emitters behave as before — every kind of listener called, removed, once, aborted, with no `this`, what it
 * returns dropped.
 */
import { getEventListeners } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withLeanerListeners } from '../../scripts/leaner-listeners.ts'

interface Emitter extends EventTarget {
  listenerCount: (type: string) => number
}

describe('leaner listeners', () => {
  let dir: string
  let Emitter: new () => Emitter

  beforeAll(async () => {
    const installed = fileURLToPath(import.meta.resolve('main-event'))
    const lean = withLeanerListeners(await readFile(installed, 'utf8'))
    if (typeof lean !== 'string') throw new Error(`the installed main-event is not as the edit expects: ${lean.missing}`)
    dir = await mkdtemp(join(tmpdir(), 'mm-main-event-'))
    const withoutSourceMap = (text: string): string => text.replace(/\/\/# sourceMappingURL=.*$/m, '')
    await writeFile(join(dir, 'index.js'), withoutSourceMap(lean))
    await writeFile(join(dir, 'events.js'), withoutSourceMap(await readFile(join(dirname(installed), 'events.js'), 'utf8')))
    await writeFile(join(dir, 'package.json'), '{ "type": "module" }')
    Emitter = (await import(pathToFileURL(join(dir, 'index.js')).href) as { TypedEventEmitter: new () => Emitter }).TypedEventEmitter
  })

  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('a plain listener is called each time, once only when added twice, and not after it is removed', () => {
    const emitter = new Emitter()
    const heard: string[] = []
    const listener = (event: Event): void => { heard.push(event.type) }
    emitter.addEventListener('close', listener)
    emitter.addEventListener('close', listener)
    emitter.dispatchEvent(new Event('close'))
    emitter.dispatchEvent(new Event('close'))
    expect(heard).toEqual(['close', 'close'])
    expect(emitter.listenerCount('close')).toBe(1)
    emitter.removeEventListener('close', listener)
    emitter.dispatchEvent(new Event('close'))
    expect(heard).toHaveLength(2)
    expect(emitter.listenerCount('close')).toBe(0)
  })

  it('a plain listener is called with no `this`, and what it returns is dropped, as by main-event\'s own wrapper', () => {
    const emitter = new Emitter()
    const calledOn: unknown[] = []
    let returned = 0
    emitter.addEventListener('close', function (this: unknown) {
      calledOn.push(this)
      returned++
      return { then: () => { throw new Error('an EventTarget looked at what the listener returned') } }
    })
    emitter.dispatchEvent(new Event('close'))
    expect({ calledOn, returned }).toEqual({ calledOn: [undefined], returned: 1 })
  })

  it('a once listener is called once and leaves the list; an object with handleEvent is called', () => {
    const emitter = new Emitter()
    let once = 0
    let handled = 0
    emitter.addEventListener('message', () => { once++ }, { once: true })
    emitter.addEventListener('message', { handleEvent: () => { handled++ } })
    emitter.dispatchEvent(new Event('message'))
    emitter.dispatchEvent(new Event('message'))
    expect({ once, handled }).toEqual({ once: 1, handled: 2 })
    expect(emitter.listenerCount('message')).toBe(1)
  })

  it('a listener added with a signal is gone once the signal aborts, its hook on the signal gone when it is removed; one added with an aborted signal never is', () => {
    const emitter = new Emitter()
    const controller = new AbortController()
    let heard = 0
    const later = new AbortController()
    const removed = (): void => {}
    emitter.addEventListener('drain', removed, { signal: later.signal })
    // the EventTarget keeps an abort listener of its own beside main-event's hook
    const hooked = getEventListeners(later.signal, 'abort').length
    emitter.removeEventListener('drain', removed)
    expect(getEventListeners(later.signal, 'abort')).toHaveLength(hooked - 1)
    emitter.addEventListener('drain', () => { heard++ }, { signal: controller.signal })
    emitter.addEventListener('drain', () => { heard += 100 }, { signal: AbortSignal.abort() })
    emitter.dispatchEvent(new Event('drain'))
    controller.abort()
    emitter.dispatchEvent(new Event('drain'))
    expect(heard).toBe(1)
    expect(emitter.listenerCount('drain')).toBe(0)
  })

  it('says what is missing from a main-event that is not as expected', () => {
    const lean = withLeanerListeners('export class TypedEventEmitter {}')
    expect(typeof lean === 'string' ? lean : lean.missing).toContain('const onAbort')
  })
})
