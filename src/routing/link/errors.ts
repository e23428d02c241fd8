export class LinkClosedError extends Error {
  constructor (reason: string) {
    super(`link closed: ${reason}`)
    this.name = 'LinkClosedError'
  }
}

export class RequestTimeoutError extends Error {
  constructor (kind: string, timeoutMs: number) {
    super(`no reply to ${kind} within ${timeoutMs} ms`)
    this.name = 'RequestTimeoutError'
  }
}

/** The other side answered a request with an `error` frame. */
export class RemoteError extends Error {
  readonly code: string
  /** busy, rate-limited: when the other side said to try again */
  readonly retryAfterMs?: number

  constructor (code: string, message: string, retryAfterMs?: number) {
    super(message)
    this.name = 'RemoteError'
    this.code = code
    this.retryAfterMs = retryAfterMs
  }
}

/** The parent refused our `hello`, or did not answer it with a `welcome`. */
export class LinkRefusedError extends RemoteError {
  constructor (code: string, message: string, retryAfterMs?: number) {
    super(code, message, retryAfterMs)
    this.name = 'LinkRefusedError'
  }
}
