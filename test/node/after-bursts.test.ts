import { afterEach, describe, expect, it, vi } from 'vitest'
import { collectAfterBursts } from '../../src/node/after-bursts.ts'

/** A link service's change feed, driven by the test. */
function changeFeed (): { onChange: (listener: () => void) => () => void, change: (times: number) => void } {
  const listeners = new Set<() => void>()
  return {
    onChange: listener => { listeners.add(listener); return () => { listeners.delete(listener) } },
    change: times => { for (let i = 0; i < times; i++) for (const listener of listeners) listener() }
  }
}

describe('collecting after a burst of links', () => {
  afterEach(() => {
    vi.useRealTimers()
    Reflect.deleteProperty(globalThis, 'gc')
  })

  it('collects once the links of a burst have stayed as they are for 5 s, and not for a few links coming and going', () => {
    vi.useFakeTimers()
    // a test double for V8's collector, which `start` exposes (bin/mycroft-mesh.js)
    const gc = vi.fn()
    Object.assign(globalThis, { gc })
    const feed = changeFeed()
    const stop = collectAfterBursts(feed.onChange)

    feed.change(10)
    vi.advanceTimersByTime(60_000)
    expect(gc).not.toHaveBeenCalled()

    feed.change(100)
    vi.advanceTimersByTime(4_000)
    feed.change(1)
    vi.advanceTimersByTime(4_000)
    expect(gc).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1_000)
    expect(gc).toHaveBeenCalledTimes(2)

    stop()
    feed.change(200)
    vi.advanceTimersByTime(60_000)
    expect(gc).toHaveBeenCalledTimes(2)
  })

  it('does nothing where the collector is not exposed', () => {
    const feed = changeFeed()
    const stop = collectAfterBursts(feed.onChange)
    expect(() => { feed.change(100) }).not.toThrow()
    stop()
  })
})
