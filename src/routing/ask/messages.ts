import * as z from 'zod'

export const QuestionSchema = z.object({
  utterances: z.array(z.string().max(2_000)).min(1).max(16),
  lang: z.string().min(2).max(16),
  /** how long the asker waits, from when this hop received it */
  deadlineMs: z.number().int().min(100).max(3_600_000)
})
export type Question = z.infer<typeof QuestionSchema>

/** One thing an assistant said: the data of a Mycroft `speak` message. */
export const SpeakSchema = z.object({
  utterance: z.string().max(8_000),
  lang: z.string().max(16).optional(),
  expect_response: z.boolean().optional(),
  meta: z.record(z.string(), z.unknown()).optional()
})
export type Speak = z.infer<typeof SpeakSchema>

const peerRef = z.object({ peerId: z.string().max(128), name: z.string().max(64) })
export type PeerRef = z.infer<typeof peerRef>

export const AnswerSchema = z.object({
  /**
   * answered: `speaks` holds the answer; no-answer: nobody up to the root knew; timeout: the deadline passed;
   * busy: the parent refused more questions for now; loop: the question came back to a node it had passed;
   * error: something failed on the way (`reason` says what)
   */
  status: z.enum(['answered', 'no-answer', 'timeout', 'busy', 'loop', 'error']),
  speaks: z.array(SpeakSchema).max(64),
  answeredBy: peerRef.optional(),
  reason: z.string().max(1_024).optional(),
  /** busy: when to ask again */
  retryAfterMs: z.number().int().min(0).max(3_600_000).optional()
})
export type Answer = z.infer<typeof AnswerSchema>
