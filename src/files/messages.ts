import * as z from 'zod'

/** Why a transfer was refused or failed; the sender's error and the receiver's log both say it in words too. */
export const FileErrorCodeSchema = z.enum([
  'forbidden', 'not-linked', 'too-large', 'quota', 'disk-full', 'busy', 'invalid', 'too-long', 'too-short', 'hash-mismatch', 'timeout', 'cancelled', 'io', 'not-shared'
])
export type FileErrorCode = z.infer<typeof FileErrorCodeSchema>

const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in lowercase hex')

/** What the sender says about a file before any byte of it: the receiver accepts or refuses on this alone. */
export const OfferSchema = z.object({
  v: z.literal(1),
  /** the sender's name for it: a hint, never used as a path */
  name: z.string().min(1).max(1_024),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  sha256: Sha256Schema,
  mediaType: z.string().max(128).default('application/octet-stream'),
  /** what it is for (a skill request's type, `send-file` …): shown to the receiver's owner */
  purpose: z.string().max(256).default('')
}).strict()
export type Offer = z.infer<typeof OfferSchema>

/** The receiver's answer to an offer: send from `offset` (0, or where a broken transfer stopped), or not at all. */
export const OfferReplySchema = z.union([
  z.object({ accept: z.object({ offset: z.number().int().min(0) }) }),
  /** the receiver holds this file already, whole and verified */
  z.object({ have: z.object({ path: z.string() }) }),
  z.object({ refuse: z.object({ code: FileErrorCodeSchema, reason: z.string().max(1_000), retryAfterMs: z.number().int().min(0).optional() }) })
])
export type OfferReply = z.infer<typeof OfferReplySchema>

/** The receiver's last word: where the verified file now lies, or why it is not there. */
export const FinishSchema = z.union([
  z.object({ done: z.object({ path: z.string() }) }),
  z.object({ failed: z.object({ code: FileErrorCodeSchema, reason: z.string().max(1_000) }) })
])
export type Finish = z.infer<typeof FinishSchema>
