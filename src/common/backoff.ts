export interface BackoffOptions {
  initialMs: number
  maxMs: number
}

/**
 * Capped exponential backoff with "equal jitter": half the step is fixed, half is random,
 * so a crowd of children that lost the same parent does not knock on its door in step.
 */
export function backoffDelay (attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const step = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30))
  return Math.round(step / 2 + random() * step / 2)
}

/** Resolves after `ms`, or early (without throwing) when the signal aborts. */
export async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) return
  await new Promise<void>(resolve => {
    const timer = setTimeout(done, ms)
    function done (): void {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}
