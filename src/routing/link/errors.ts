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

  constructor (code: string, message: string) {
    super(message)
    this.name = 'RemoteError'
    this.code = code
  }
}

/** The parent refused our `hello`, or did not answer it with a `welcome`. */
export class LinkRefusedError extends RemoteError {
  constructor (code: string, message: string) {
    super(code, message)
    this.name = 'LinkRefusedError'
  }
}
