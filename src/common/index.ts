export { createLogger, type Logger, type LoggerOptions } from './log.ts'
export { ExitCode, UserError, ConfigError, errorMessage } from './errors.ts'
export { backoffDelay, sleep, type BackoffOptions } from './backoff.ts'
export { writeFileAtomic } from './atomic-file.ts'
