import type { Logger, Level, LoggerOptions as PinoOptions } from 'pino'

export type { Logger }

export interface LoggerOptions {
  level?: Level
  /** one JSON object per line instead of human-readable text */
  json?: boolean
}

/** User text (an utterance, a message to a room) is cut to this many characters in a log line's fields. */
export const LOG_TEXT_LIMIT = 200
/** A line's message is the node's own words, with perhaps some user text in them: it may be longer. */
const LOG_MESSAGE_LIMIT = 500
const CLIP_DEPTH = 4

/** `text` cut to `limit` characters, saying how long it was. */
function clipText (text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit)}… (${text.length} characters)`
}

/** A log field with every long string in it clipped; errors are left as they are, for pino's serializer. */
function clipValue (value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return clipText(value, LOG_TEXT_LIMIT)
  if (depth >= CLIP_DEPTH || value === null || typeof value !== 'object' || value instanceof Error) return value
  if (Array.isArray(value)) return value.slice(0, 32).map(item => clipValue(item, depth + 1))
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, clipValue(item, depth + 1)]))
}

/** What every logger of the node is made with: whatever a log call is given, no line carries a 10 MB utterance. */
const LOG_OPTIONS: PinoOptions = {
  base: undefined,
  hooks: {
    logMethod (args, method) {
      method.apply(this, args.map(arg => typeof arg === 'string' ? clipText(arg, LOG_MESSAGE_LIMIT) : clipValue(arg)) as Parameters<typeof method>)
    }
  }
}

/**
 * Logs go to stderr so that stdout stays for a command's own output. The pretty printer is loaded only for a
 * logger that needs it: a command that only asks the running node should start in well under a second.
 */
export async function createLogger (options: LoggerOptions = {}): Promise<Logger> {
  const level = options.level ?? 'info'
  const { default: pino } = await import('pino')
  if (options.json === true) {
    return pino({ ...LOG_OPTIONS, level }, pino.destination({ fd: 2, sync: true }))
  }
  const { default: pretty } = await import('pino-pretty')
  return pino({ ...LOG_OPTIONS, level }, pretty({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true
  }))
}
