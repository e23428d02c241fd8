import { z } from 'zod'

/** Kinds the link itself understands; other kinds are served by handlers registered on the link service. */
export const LinkKind = {
  hello: 'hello',
  welcome: 'welcome',
  ping: 'ping',
  pong: 'pong',
  error: 'error',
  bye: 'bye'
} as const

/** A node's name as people say it: letters, digits, spaces and . _ ' - (it ends up in logs and tables). */
export const NodeNameSchema = z.string().trim().min(1).max(64).regex(/^[\p{L}\p{N}][\p{L}\p{N}\p{Zs}._'-]*$/u, 'use letters, digits, spaces and . _ \' - only, starting with a letter or digit')

export const WelcomeSchema = z.object({
  name: NodeNameSchema,
  version: z.string().max(64),
  capabilities: z.array(z.string().max(64)).max(64)
})
export type Welcome = z.infer<typeof WelcomeSchema>

export const HelloSchema = WelcomeSchema.extend({
  /** the secret of a one-time invite, presented once when joining */
  invite: z.string().min(16).max(128).optional()
})
export type Hello = z.infer<typeof HelloSchema>

export const ErrorBodySchema = z.object({
  code: z.string().max(64),
  message: z.string().max(1024)
})
export type ErrorBody = z.infer<typeof ErrorBodySchema>

export const ByeSchema = z.object({ reason: z.string().max(1024) })

export const PingSchema = z.object({ t: z.number() })

/** Codes carried in `error` frames. */
export type LinkErrorCode =
  | 'malformed' | 'invalid' | 'unsupported-version' | 'oversize' | 'unknown-kind'
  | 'refused' | 'handshake' | 'unknown-request' | 'internal'
  | 'uninvited' | 'revoked' | 'invite-unknown' | 'invite-used' | 'invite-expired' | 'name-taken'
  | 'forbidden' | 'rate-limited' | 'cut-off'

/** The verdict on one envelope from an established link. */
export type Verdict = { ok: true } | { ok: false, code: LinkErrorCode, message: string, cutOff?: boolean }
