import { chmod, readFile, stat } from 'node:fs/promises'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { UserError, writeFileAtomic, type Logger } from '../common/index.ts'
import type { PeerId, PrivateKey } from '@libp2p/interface'

export interface Identity {
  privateKey: PrivateKey
  peerId: PeerId
  created: boolean
}

/**
 * The node's Ed25519 key, kept in one owner-only file: created on first start, the same peer id ever after.
 * A key file others can read is tightened to 0600 with a warning.
 */
export async function loadOrCreateIdentity (path: string, log?: Logger): Promise<Identity> {
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }

  if (bytes === undefined) {
    const privateKey = await generateKeyPair('Ed25519')
    await writeFileAtomic(path, privateKeyToProtobuf(privateKey), 0o600)
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey), created: true }
  }

  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new UserError(`the identity key ${path} is unreadable (${(err as Error).message}); restore it from a backup, or move it away to start as a new peer`)
  }
  const mode = (await stat(path)).mode & 0o777
  if ((mode & 0o077) !== 0) {
    log?.warn({ path, mode: mode.toString(8) }, 'identity key was readable by others; tightened to 0600')
    await chmod(path, 0o600)
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), created: false }
}
