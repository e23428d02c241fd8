import { peerIdFromString } from '@libp2p/peer-id'
import { fromString, toString } from 'uint8arrays'
import * as z from 'zod'
import type { PrivateKey } from '@libp2p/interface'

/** A message relayed across several nodes further from now than this is refused: replays, or clocks far apart. */
export const SIGNATURE_WINDOW_MS = 5 * 60_000

/** The fields a link kind adds to what it relays, so that the node it reaches can tell who really sent it. */
export const OriginSignatureFields = {
  /** the peer id of the node it comes from: its Ed25519 key signed the rest */
  origin: z.string().min(1).max(128),
  at: z.number().int().min(0),
  sig: z.string().min(1).max(200)
}
export interface OriginSignature { origin: string, at: number, sig: string }

/** JSON with every object's keys in order: the same bytes on every node, whatever order the fields came in. */
function canonical (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value).sort().map(key => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/** What is signed: the purpose (a relay, an announcement …) first, so that one can never pass for the other. */
const bytesOf = (purpose: string, unsigned: object): Uint8Array => new TextEncoder().encode(`mycroft-mesh ${purpose}/1\n${canonical(unsigned)}`)

/**
 * Signs what a node sends across the mesh with the Ed25519 key its peer id is: a node on the way can change neither
 * what it says nor who sent it. The time bounds replays.
 */
export async function signAsOrigin<T extends object> (privateKey: PrivateKey, origin: string, purpose: string, payload: T): Promise<T & OriginSignature> {
  const unsigned = { ...payload, origin, at: Date.now() }
  return { ...unsigned, sig: toString(await privateKey.sign(bytesOf(purpose, unsigned)), 'base64') }
}

/** Why a signed message cannot be taken as from its origin, or undefined when it can. */
export async function forgery (purpose: string, signed: OriginSignature, { now = Date.now(), windowMs = SIGNATURE_WINDOW_MS } = {}): Promise<string | undefined> {
  if (Math.abs(now - signed.at) > windowMs) return `it was signed ${Math.round((now - signed.at) / 1000)} s from now, outside the ${windowMs / 1000} s window`
  const { sig, ...unsigned } = signed
  try {
    const key = peerIdFromString(signed.origin).publicKey
    if (key === undefined) return `its origin ${signed.origin} is not a key`
    return await key.verify(bytesOf(purpose, unsigned), fromString(sig, 'base64')) ? undefined : 'its signature does not match its origin'
  } catch (err) {
    return `its signature cannot be read (${err instanceof Error ? err.message : String(err)})`
  }
}
