/** Exit codes the CLI uses; documented in the README. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  notRunning: 3
} as const

/**
 * An error whose message is written for the person at the keyboard: what happened and what to do.
 * The CLI prints it without a stack trace and exits with its code.
 */
export class UserError extends Error {
  readonly exitCode: number

  constructor (message: string, exitCode: number = ExitCode.failure) {
    super(message)
    this.name = 'UserError'
    this.exitCode = exitCode
  }
}

export class ConfigError extends UserError {
  constructor (message: string) {
    super(message, ExitCode.usage)
    this.name = 'ConfigError'
  }
}

export function errorMessage (err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message
  }
  return String(err)
}
