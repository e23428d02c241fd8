import type { FileErrorCode } from './messages.ts'

/** A transfer that was refused or failed, with the receiver's (or this node's) reason in words. */
export class FileTransferError extends Error {
  readonly code: FileErrorCode
  readonly retryAfterMs?: number

  constructor (code: FileErrorCode, message: string, retryAfterMs?: number) {
    super(message)
    this.name = 'FileTransferError'
    this.code = code
    this.retryAfterMs = retryAfterMs
  }

  /** Worth another try later: the link broke, or the receiver was busy; never a refusal on the file itself. */
  get retryable (): boolean {
    return this.code === 'busy' || this.code === 'timeout' || this.code === 'io'
  }
}
