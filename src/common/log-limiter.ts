import type { Logger } from 'pino'

/** One line per key and interval: the first at once, the rest summed up when the interval ends. */
const REPEAT_INTERVAL_MS = 60_000

type Level = 'info' | 'warn' | 'error'

interface Repeats {
  level: Level
  fields: Record<string, unknown>
  message: string
  count: number
}

/**
 * Keeps repeated events (a flood of bad frames, refused handshakes, guessed invites) from flooding the log:
 * the first event of a key is logged as it happens; later ones within the interval are counted and logged once,
 * as one summary line with the count, when the interval ends.
 */
export class LogLimiter {
  private readonly log: Logger
  private readonly intervalMs: number
  private readonly open = new Map<string, Repeats>()
  private timer?: ReturnType<typeof setTimeout>

  constructor (log: Logger, intervalMs = REPEAT_INTERVAL_MS) {
    this.log = log
    this.intervalMs = intervalMs
  }

  /** Logs `message` for `key` now, or counts it if `key` was logged within the interval. */
  note (key: string, level: Level, fields: Record<string, unknown>, message: string): void {
    const repeats = this.open.get(key)
    if (repeats !== undefined) {
      repeats.count++
      repeats.fields = fields
      repeats.message = message
      return
    }
    this.log[level](fields, message)
    this.open.set(key, { level, fields, message, count: 0 })
    this.timer ??= setTimeout(() => { this.summarize() }, this.intervalMs).unref()
  }

  /** Logs what was counted and starts a new interval. */
  summarize (): void {
    this.timer = undefined
    const seconds = Math.round(this.intervalMs / 1000)
    for (const repeats of this.open.values()) {
      if (repeats.count > 0) this.log[repeats.level]({ ...repeats.fields, repeats: repeats.count }, `${repeats.message} (and ${repeats.count} more like it in the last ${seconds} s)`)
    }
    this.open.clear()
  }
}
