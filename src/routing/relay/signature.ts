import { peerIdFromString } from '@libp2p/peer-id'
import { fromString, toString } from 'uint8arrays'
import { SIGNATURE_WINDOW_MS } from './constants.ts'
import type { Relay, SignedRelay } from './messages.ts'
import type { PrivateKey } from '@libp2p/interface'

/** JSON with every object's keys in order: the same bytes on every node, whatever order the fields came in. */
function canonical (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value).sort().map(key => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

const bytesOf = (relayed: Omit<SignedRelay, 'sig'>): Uint8Array => new TextEncoder().encode(`mycroft-mesh relay/1\n${canonical(relayed)}`)

/**
 * Signed by the room it comes from, with the Ed25519 key its peer id is: a node on the way cannot change what it says,
 * nor who sent it. The time bounds replays.
 */
export async function signRelay (privateKey: PrivateKey, origin: string, relayed: Relay): Promise<SignedRelay> {
  const unsigned = { ...relayed, origin, at: Date.now() }
  return { ...unsigned, sig: toString(await privateKey.sign(bytesOf(unsigned)), 'base64') }
}

/** Why a relayed message cannot be taken as from its origin, or undefined when it can. */
export async function forgery (signed: SignedRelay, now = Date.now()): Promise<string | undefined> {
  if (Math.abs(now - signed.at) > SIGNATURE_WINDOW_MS) return `it was signed ${Math.round((now - signed.at) / 1000)} s from now, outside the ${SIGNATURE_WINDOW_MS / 1000} s window`
  const { sig, ...unsigned } = signed
  try {
    const key = peerIdFromString(signed.origin).publicKey
    if (key === undefined) return `its origin ${signed.origin} is not a key`
    return await key.verify(bytesOf(unsigned), fromString(sig, 'base64')) ? undefined : 'its signature does not match its origin'
  } catch (err) {
    return `its signature cannot be read (${err instanceof Error ? err.message : String(err)})`
  }
}
