import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { UserError, errorMessage } from '../common/index.ts'
import type { MembershipProof, ProofRole } from '../routing/index.ts'

const FIRST_LINE = 'mycroft-mesh house key 1'
/** Fewer bytes than this cannot hold a secret worth the name. */
const LEAST_KEY_BYTES = 16

/**
 * A house key: a secret file every node of the house holds. It never travels: the mDNS tag is a hash of it, and a
 * node proves it holds it with an HMAC over both peer ids (a room to its hub in `hello`, the hub back in `welcome`),
 * so a proof is worth nothing to anyone else — and a node outside the house (a brain above it, a friend) links as
 * any node does, without it. Noise has already proved each peer id, so binding the proof to them is enough.
 */
export class HouseKey implements MembershipProof {
  /** the file's bytes, which the mDNS tag is derived from */
  readonly bytes: Uint8Array
  private readonly secret: Buffer

  constructor (bytes: Uint8Array) {
    this.bytes = bytes
    this.secret = createHash('sha256').update('mycroft-mesh house secret/1').update(bytes).digest()
  }

  /** A new house key file's text. */
  static generate (): string {
    return `${FIRST_LINE}\n${randomBytes(32).toString('base64url')}\n`
  }

  /** The house key in a file, or an error that says how to make one. */
  static async read (path: string): Promise<HouseKey> {
    let bytes: Uint8Array
    try {
      bytes = await readFile(path)
    } catch (err) {
      throw new UserError(`cannot read the house key ${path}: ${errorMessage(err)}; make one with \`mycroft-mesh house-key > house.key\` and copy it to every node of the house`)
    }
    if (bytes.byteLength < LEAST_KEY_BYTES) {
      throw new UserError(`the house key ${path} is too short to be one (${bytes.byteLength} bytes); make one with \`mycroft-mesh house-key > house.key\` and copy it to every node of the house`)
    }
    return new HouseKey(bytes)
  }

  prove (as: ProofRole, prover: string, verifier: string): string {
    return createHmac('sha256', this.secret).update(`${as}|${prover}|${verifier}`).digest('base64url')
  }

  holds (proof: string | undefined, as: ProofRole, prover: string, verifier: string): boolean {
    if (proof === undefined) return false
    const expected = Buffer.from(this.prove(as, prover, verifier))
    const given = Buffer.from(proof)
    return given.byteLength === expected.byteLength && timingSafeEqual(given, expected)
  }
}
