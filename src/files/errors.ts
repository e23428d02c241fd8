import { errorMessage } from '../common/index.ts'
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

/** Any error of a transfer as the codes the protocol speaks. */
export function asTransferError (err: unknown, signal?: AbortSignal): FileTransferError {
  if (err instanceof FileTransferError) return err
  if (signal?.aborted === true) return signal.reason instanceof FileTransferError ? signal.reason : new FileTransferError('cancelled', 'the transfer was called off')
  const message = errorMessage(err)
  if (/ENOSPC/.test(message)) return new FileTransferError('disk-full', 'the receiver\'s disk filled up while the file arrived; what came was dropped: free some disk there and send it again')
  if (/timeout|timed out|aborted/i.test(message)) return new FileTransferError('timeout', message)
  return new FileTransferError('io', message)
}
