import { backoffDelay, sleep, type BackoffOptions } from './backoff.ts'

export interface ReconnectLoopInit<T> {
  /** opens the connection; resolves once it is up */
  connect: (signal: AbortSignal) => Promise<T>
  /** resolves with a reason once the connection is down */
  closed: (connection: T) => Promise<string>
  onUp: (connection: T) => void
  /** the connection went down while the loop was running */
  onDown: (reason: string) => void
  /** an attempt failed; the next one starts after `delayMs` */
  onFailure: (err: unknown, attempt: number, delayMs: number) => void
  backoff: BackoffOptions
  /** may lengthen the pause after a particular failure */
  retryDelayMs?: (err: unknown, backoffMs: number) => number
  signal: AbortSignal
  /** a signal that ends the current pause early (there is somewhere new to try); asked for at each pause */
  wake?: () => AbortSignal
}

/**
 * Keeps something connected until `signal` aborts: after a failed attempt it waits a capped, jittered,
 * growing pause; after a connection that was up goes down it tries again at once.
 */
export async function runReconnectLoop<T> (init: ReconnectLoopInit<T>): Promise<void> {
  const { signal } = init
  let failures = 0
  while (!signal.aborted) {
    try {
      const connection = await init.connect(signal)
      failures = 0
      init.onUp(connection)
      const reason = await init.closed(connection)
      if (signal.aborted) return
      init.onDown(reason)
    } catch (err) {
      if (signal.aborted) return
      const backoffMs = backoffDelay(failures, init.backoff)
      const delayMs = init.retryDelayMs?.(err, backoffMs) ?? backoffMs
      failures++
      init.onFailure(err, failures, delayMs)
      await sleep(delayMs, init.wake === undefined ? signal : AbortSignal.any([signal, init.wake()]))
    }
  }
}
