import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { canonicalize } from '@tufjs/canonical-json'
import { Key, Signature } from '@tufjs/models'

/** One Ed25519 role key: its TUF description and the private half that signs with it. */
export interface RoleKey {
  key: Key
  signer: (data: Buffer) => Signature
  /** the private key as PKCS#8 DER in base64, for the master's key file */
  secret: string
}

function describe (publicKey: KeyObject): Key {
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url').toString('hex')
  const keyVal = { public: raw }
  // the key id as the TUF specification computes it: the hash of the key's canonical JSON
  const keyID = createHash('sha256').update(canonicalize({ keytype: 'ed25519', scheme: 'ed25519', keyval: keyVal })).digest('hex')
  return new Key({ keyID, keyType: 'ed25519', scheme: 'ed25519', keyVal })
}

function roleKey (privateKey: KeyObject): RoleKey {
  const key = describe(createPublicKey(privateKey))
  return {
    key,
    signer: data => new Signature({ keyID: key.keyID, sig: sign(null, data, privateKey).toString('hex') }),
    secret: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64')
  }
}

export function newRoleKey (): RoleKey {
  return roleKey(generateKeyPairSync('ed25519').privateKey)
}

export function loadRoleKey (secret: string): RoleKey {
  return roleKey(createPrivateKey({ key: Buffer.from(secret, 'base64'), format: 'der', type: 'pkcs8' }))
}
