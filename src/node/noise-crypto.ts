/**
 * Noise's primitives on Node's own crypto (OpenSSL) alone. The default of @chainsafe/libp2p-noise also
 * instantiates two WebAssembly modules when it is imported (ChaCha20-Poly1305 and SHA-256, faster for small
 * messages), which costs every node ~10 MB of RSS for a few microseconds per message. The bundle
 * (scripts/build.ts) puts this module in place of that default, so the WebAssembly is never loaded.
 */
import { createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'

const CIPHER = 'chacha20-poly1305'
const TAG_LENGTH = 16
// DER framing of a raw X25519 key (RFC 8410), as OpenSSL takes and gives keys
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')

/** bytes as Noise hands them over: one array, or a list of them (its own version of uint8arraylist) */
type Bytes = Parameters<ICryptoInterface['hashSHA256']>[0]

function parts (data: Bytes): Iterable<Uint8Array> {
  return data instanceof Uint8Array ? [data] : data
}

function flat (data: Bytes): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray()
}

function privateKeyObject (raw: Uint8Array): ReturnType<typeof createPrivateKey> {
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' })
}

function publicKeyObject (raw: Uint8Array): ReturnType<typeof createPublicKey> {
  return createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
}

function rawPublicKey (key: ReturnType<typeof createPublicKey>): Uint8Array {
  return key.export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI_PREFIX.length)
}

export const noiseCrypto: ICryptoInterface = {
  hashSHA256 (data) {
    const hash = createHash('sha256')
    for (const part of parts(data)) hash.update(part)
    return hash.digest()
  },

  // Noise's HKDF is RFC 5869's with the chaining key as salt and no info, cut into three outputs
  getHKDF (ck, ikm) {
    const okm = new Uint8Array(hkdfSync('sha256', ikm, ck, new Uint8Array(0), 96))
    return [okm.subarray(0, 32), okm.subarray(32, 64), okm.subarray(64, 96)]
  },

  generateX25519KeyPair () {
    const { publicKey, privateKey } = generateKeyPairSync('x25519')
    return {
      publicKey: rawPublicKey(publicKey),
      privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(X25519_PKCS8_PREFIX.length)
    }
  },

  generateX25519KeyPairFromSeed (seed) {
    return { publicKey: rawPublicKey(createPublicKey(privateKeyObject(seed))), privateKey: seed }
  },

  generateX25519SharedKey (privateKey, publicKey) {
    return diffieHellman({ privateKey: privateKeyObject(flat(privateKey)), publicKey: publicKeyObject(flat(publicKey)) })
  },

  chaCha20Poly1305Encrypt (plaintext, nonce, ad, k) {
    const cipher = createCipheriv(CIPHER, k, nonce, { authTagLength: TAG_LENGTH })
    cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
    const sealed = [...parts(plaintext)].map(part => cipher.update(part))
    // a stream cipher: final() seals (or, below, verifies) and gives no bytes of its own
    return Buffer.concat([...sealed, cipher.final(), cipher.getAuthTag()])
  },

  chaCha20Poly1305Decrypt (ciphertext, nonce, ad, k) {
    const textLength = ciphertext.byteLength - TAG_LENGTH
    const decipher = createDecipheriv(CIPHER, k, nonce, { authTagLength: TAG_LENGTH })
    decipher.setAAD(ad, { plaintextLength: textLength })
    decipher.setAuthTag(ciphertext.subarray(textLength))
    const opened = [...parts(ciphertext.subarray(0, textLength))].map(part => decipher.update(part))
    decipher.final()
    return opened.length === 1 ? opened[0] as Uint8Array : Buffer.concat(opened)
  }
}
