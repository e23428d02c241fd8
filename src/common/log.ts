import { pino, type Logger, type Level } from 'pino'
import pretty from 'pino-pretty'

export type { Logger }

export interface LoggerOptions {
  level?: Level
  /** one JSON object per line instead of human-readable text */
  json?: boolean
}

/** Logs go to stderr so that stdout stays for a command's own output. */
export function createLogger (options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info'
  if (options.json === true) {
    return pino({ level, base: undefined }, pino.destination({ fd: 2, sync: true }))
  }
  return pino({ level, base: undefined }, pretty({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true
  }))
}
