import * as z from 'zod'

/** Kinds the link itself understands; other kinds are served by handlers registered on the link service. */
export const LinkKind = {
  hello: 'hello',
  welcome: 'welcome',
  ping: 'ping',
  pong: 'pong',
  /** parent to child: the limits it holds the child to now (they grow with the subtree the child serves) */
  limits: 'limits',
  /** child to parent: how many nodes its subtree holds now, itself included */
  subtreeSize: 'subtree-size',
  error: 'error',
  bye: 'bye'
} as const

/** A node's name as people say it: letters, digits, spaces and . _ ' - (it ends up in logs and tables). */
export const NodeNameSchema = z.string().trim().min(1).max(64).regex(/^[\p{L}\p{N}][\p{L}\p{N}\p{Zs}._'-]*$/u, 'use letters, digits, spaces and . _ \' - only, starting with a letter or digit')

/** The most a subtree may weigh toward its parent's limits, whatever a child claims. */
export const MAX_SUBTREE = 4096

/**
 * What a parent holds a child to, stated in `welcome` and in `limits` frames: `framesPerSecond` (the link),
 * and one figure per capability that limits itself (`asksInFlight` …). A child keeps within them.
 */
export const LinkLimitsSchema = z.record(z.string().max(64), z.number().min(0).max(1e9))
  .refine(limits => Object.keys(limits).length <= 32, 'at most 32 limits')
export type LinkLimits = z.infer<typeof LinkLimitsSchema>

const SelfSchema = z.object({
  name: NodeNameSchema,
  version: z.string().max(64),
  capabilities: z.array(z.string().max(64)).max(64)
})
export type Self = z.infer<typeof SelfSchema>

/** A proof of holding the house key (an HMAC in base64url) */
const HouseProofSchema = z.string().max(128)

export const WelcomeSchema = SelfSchema.extend({
  limits: LinkLimitsSchema.optional(),
  /** a hub's answer to a room that proved it holds the house key: the hub holds it too */
  house: HouseProofSchema.optional()
})
export type Welcome = z.infer<typeof WelcomeSchema>

export const SubtreeSchema = z.object({ size: z.number().int().min(1).max(1_000_000) })

export const HelloSchema = SelfSchema.extend({
  /** the secret of a one-time invite, presented once when joining */
  invite: z.string().min(16).max(128).optional(),
  /** how many nodes the child's subtree holds, itself included (1 when absent) */
  subtree: SubtreeSchema.shape.size.optional(),
  /** proof that the child holds the house key, for a hub */
  house: HouseProofSchema.optional()
})
export type Hello = z.infer<typeof HelloSchema>

export const ErrorBodySchema = z.object({
  code: z.string().max(64),
  message: z.string().max(1024),
  /** busy, rate-limited: when to try again */
  retryAfterMs: z.number().int().min(0).max(3_600_000).optional()
})
export type ErrorBody = z.infer<typeof ErrorBodySchema>

export const ByeSchema = z.object({ reason: z.string().max(1024) })

/** `rtt`: the round trip the child end last measured, so that its parent knows it too */
export const PingSchema = z.object({ t: z.number(), rtt: z.number().nonnegative().optional() })

/** Codes carried in `error` frames. */
export type LinkErrorCode =
  | 'malformed' | 'invalid' | 'unsupported-version' | 'oversize' | 'unknown-kind'
  | 'refused' | 'handshake' | 'unknown-request' | 'internal'
  | 'uninvited' | 'revoked' | 'invite-unknown' | 'invite-used' | 'invite-expired' | 'name-taken' | 'house-key'
  | 'forbidden' | 'rate-limited' | 'busy' | 'cut-off'

/**
 * The verdict on one envelope from an established link. `busy` (over the frame rate) is backpressure, said
 * with a retry-after; a violation (`forbidden`, a bad frame …) counts toward a cut-off.
 */
export type Verdict = { ok: true } | { ok: false, code: LinkErrorCode, message: string, cutOff?: boolean, retryAfterMs?: number }
