import { createHash } from 'node:crypto'
import { HUB_TAG_PREFIX, HUB_TAG_SUFFIX } from './constants.ts'

/**
 * The mDNS service tag of a house's hub: a hash of the house key, never the key itself (the tag is visible to the
 * whole LAN). mDNS answers only queries for its own tag, so a node never even sees another house's hub.
 */
export function hubTag (houseKey: Uint8Array): string {
  return `${HUB_TAG_PREFIX}${createHash('sha256').update('mycroft-mesh house/1').update(houseKey).digest('hex').slice(0, 20)}${HUB_TAG_SUFFIX}`
}
