import { afterEach, describe, expect, it, vi } from 'vitest'
import { backoffDelay, sleep } from '../../src/common/index.ts'

const defaults = { initialMs: 250, maxMs: 3_000 }

describe('backoffDelay', () => {
  it('doubles from the initial delay up to the cap (the README default: 250 ms doubling to 3 s)', () => {
    const top = (attempt: number): number => backoffDelay(attempt, defaults, () => 1)
    expect([0, 1, 2, 3, 4, 5, 6].map(top)).toEqual([250, 500, 1_000, 2_000, 3_000, 3_000, 3_000])
  })

  it('never exceeds the cap, however many attempts have failed', () => {
    for (const attempt of [10, 31, 100, 10_000, Number.MAX_SAFE_INTEGER]) {
      const delay = backoffDelay(attempt, defaults, () => 1)
      expect(Number.isFinite(delay)).toBe(true)
      expect(delay).toBe(3_000)
    }
  })

  it('keeps the jitter within [step/2, step]', () => {
    expect(backoffDelay(2, defaults, () => 0)).toBe(500)
    expect(backoffDelay(2, defaults, () => 0.5)).toBe(750)
    expect(backoffDelay(2, defaults, () => 0.999_999)).toBe(1_000)
    for (let attempt = 0; attempt < 12; attempt++) {
      const step = Math.min(defaults.maxMs, defaults.initialMs * 2 ** attempt)
      for (let i = 0; i < 200; i++) {
        const delay = backoffDelay(attempt, defaults)
        expect(delay).toBeGreaterThanOrEqual(step / 2)
        expect(delay).toBeLessThanOrEqual(step)
      }
    }
  })

  it('spreads a crowd of retries instead of sending them in step', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(4, defaults)))
    expect(delays.size).toBeGreaterThan(10)
  })

  it('honours other settings', () => {
    const options = { initialMs: 10, maxMs: 100 }
    expect([0, 1, 2, 3, 4, 5].map(attempt => backoffDelay(attempt, options, () => 1))).toEqual([10, 20, 40, 80, 100, 100])
  })
})

describe('sleep', () => {
  afterEach(() => { vi.useRealTimers() })

  it('resolves after the delay, not before', async () => {
    vi.useFakeTimers()
    let done = false
    const slept = sleep(1_000).then(() => { done = true })
    await vi.advanceTimersByTimeAsync(999)
    expect(done).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await slept
    expect(done).toBe(true)
  })

  it('resolves early, without throwing, when the signal aborts', async () => {
    vi.useFakeTimers()
    const controller = new AbortController()
    let done = false
    const slept = sleep(60_000, controller.signal).then(() => { done = true })
    await vi.advanceTimersByTimeAsync(10)
    expect(done).toBe(false)
    controller.abort()
    await slept
    expect(done).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('returns at once for a signal that has already aborted', async () => {
    vi.useFakeTimers()
    await sleep(60_000, AbortSignal.abort())
    expect(vi.getTimerCount()).toBe(0)
  })
})
