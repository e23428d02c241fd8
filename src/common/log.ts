import type { Logger, Level } from 'pino'

export type { Logger }

export interface LoggerOptions {
  level?: Level
  /** one JSON object per line instead of human-readable text */
  json?: boolean
}

/**
 * Logs go to stderr so that stdout stays for a command's own output. The pretty printer is loaded only for a
 * logger that needs it: a command that only asks the running node should start in well under a second.
 */
export async function createLogger (options: LoggerOptions = {}): Promise<Logger> {
  const level = options.level ?? 'info'
  const { pino } = await import('pino')
  if (options.json === true) {
    return pino({ level, base: undefined }, pino.destination({ fd: 2, sync: true }))
  }
  const { default: pretty } = await import('pino-pretty')
  return pino({ level, base: undefined }, pretty({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true
  }))
}
