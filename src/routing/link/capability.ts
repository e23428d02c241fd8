import type { Envelope } from './envelope.ts'
import type { LinkSession } from './link-session.ts'
import type { Verdict } from './messages.ts'

/** What the sender of an envelope must be allowed: a permission word (`ask`, `relay` …) or a bus message type. */
export type Need = { permission: string } | { busType: string }

/** Which end of a link the other side is, seen from this node. */
export type LinkRole = 'parent' | 'child'

/** One envelope to judge, with what the capability serving it says it needs. */
export interface GuardRequest {
  peerId: string
  role: LinkRole
  /** how many nodes the peer speaks for (its subtree, for a child): its rate limit grows with it */
  weight: number
  kind: string
  /** undefined: the link's own kinds (ping, bye …) and replies, which need only the link itself */
  need?: Need
}

/**
 * A link kind: a capability carried in envelopes on the link stream (ask/answer, bus delivery, relay …).
 * It serves the envelope kinds it names, announces its word in `hello`/`welcome`, and says which permission
 * each envelope needs; the link asks the guard with that before the envelope reaches `handle`.
 */
export interface LinkCapability {
  /** the word announced in `hello`/`welcome`; a node sends these kinds only to a peer that announced it */
  readonly capability: string
  readonly kinds: readonly string[]
  /** the permission word (`allow`/`deny` take it) that guards this capability, when one does */
  readonly permission?: string
  needs: (envelope: Envelope) => Need | undefined
  /** the limits it holds a child to, stated in `welcome`, for a child whose subtree weighs `weight` nodes */
  limits?: (weight: number) => Record<string, number>
  handle: (envelope: Envelope, session: LinkSession) => void | Promise<void>
}

export type LinkGuard = (request: GuardRequest) => Verdict

/**
 * What a proof is for: a room proving itself to its hub, the hub answering it, or a housemate proving it is of the
 * house in a message it signs (the verifier is then the message's id).
 */
export type ProofRole = 'room' | 'hub' | 'mate'

/**
 * Proof that a peer holds a secret of the house (its house key), bound to the prover's and the verifier's peer
 * ids. The link carries it in `hello` and `welcome`; what it admits is the admission's business.
 */
export interface MembershipProof {
  prove: (as: ProofRole, prover: string, verifier: string) => string
  holds: (proof: string | undefined, as: ProofRole, prover: string, verifier: string) => boolean
}
