import { randomBytes } from 'node:crypto'
import { pureJsCrypto } from '@chainsafe/libp2p-noise'
import { describe, expect, it } from 'vitest'
import { Uint8ArrayList } from 'uint8arraylist'
import { noiseCrypto } from '../../src/node/noise-crypto.ts'

type NoiseBytes = Parameters<typeof noiseCrypto.hashSHA256>[0]

// The node's Noise primitives must agree bit for bit with Noise's own reference ones: any peer (js, Go, Rust) runs those
describe('noise on node crypto', () => {
  it('derives the same keys, shares the same secret and seals what the reference opens, and the other way round', () => {
    const ck = randomBytes(32)
    const ikm = randomBytes(32)
    expect(noiseCrypto.getHKDF(ck, ikm)).toEqual(pureJsCrypto.getHKDF(ck, ikm))

    const ours = noiseCrypto.generateX25519KeyPair()
    const theirs = pureJsCrypto.generateX25519KeyPair()
    expect(Buffer.from(noiseCrypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey)))
      .toEqual(Buffer.from(pureJsCrypto.generateX25519SharedKey(theirs.privateKey, ours.publicKey)))
    const seed = randomBytes(32)
    expect(Buffer.from(noiseCrypto.generateX25519KeyPairFromSeed(seed).publicKey)).toEqual(Buffer.from(pureJsCrypto.generateX25519KeyPairFromSeed(seed).publicKey))

    const key = randomBytes(32)
    const nonce = randomBytes(12)
    const ad = randomBytes(16)
    for (const size of [0, 1, 1199, 1200, 65_535]) {
      const text = randomBytes(size)
      const sealed = noiseCrypto.chaCha20Poly1305Encrypt(text, nonce, ad, key)
      expect(Buffer.from(pureJsCrypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, key).subarray())).toEqual(text)
      const theirSealed = pureJsCrypto.chaCha20Poly1305Encrypt(text, nonce, ad, key)
      expect(Buffer.from(noiseCrypto.chaCha20Poly1305Decrypt(theirSealed, nonce, ad, key).subarray())).toEqual(text)
      // as a list of pieces, the way a stream hands them over (Noise's own copy of uint8arraylist is another version)
      const pieces = new Uint8ArrayList(text.subarray(0, size >> 1), text.subarray(size >> 1)) as unknown as NoiseBytes
      expect(Buffer.from(noiseCrypto.chaCha20Poly1305Encrypt(pieces, nonce, ad, key).subarray())).toEqual(Buffer.from(sealed.subarray()))
      expect(Buffer.from(noiseCrypto.hashSHA256(pieces))).toEqual(Buffer.from(pureJsCrypto.hashSHA256(text)))
    }
  })

  it('refuses a message whose tag does not match', () => {
    const key = randomBytes(32)
    const nonce = randomBytes(12)
    const sealed = Buffer.from(noiseCrypto.chaCha20Poly1305Encrypt(Buffer.from('hello kitchen'), nonce, new Uint8Array(0), key).subarray())
    sealed[0] = (sealed[0] ?? 0) ^ 1
    expect(() => noiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, new Uint8Array(0), key)).toThrow()
  })
})
