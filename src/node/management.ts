import * as z from 'zod'
import { applyPermission, defaultPermissions, encodeInviteToken, ipMatcher, ipOf, parseCidr, RoleSchema, type AccessControl, type PeerRecord, type TrustStore } from '../access/index.ts'
import { NodeNameSchema, type Link } from '../routing/index.ts'
import { ControlRefusal, parseRequest, type ControlRoutes } from '../control/index.ts'
import type { Connection } from '@libp2p/interface'

/** What managing access needs of the running node. */
export interface ManagementPort {
  readonly peerId: string
  readonly store: TrustStore
  readonly access: AccessControl
  readonly link: Link
  addrs: () => string[]
  connections: () => Connection[]
  /** the skills root this node trusts, which the invites it gives carry */
  skillsRoot: () => Promise<string | undefined>
}

export type PeerState = 'linked' | 'offline' | 'revoked' | 'cut-off'

export interface PeerListing extends PeerRecord {
  state: PeerState
}

const InviteRequest = z.object({
  name: NodeNameSchema,
  role: RoleSchema.exclude(['parent']),
  ttlMs: z.number().int().min(1_000).max(30 * 24 * 3600_000)
})
const PeerRequest = z.object({ peer: z.string().min(1).max(128) })
const PermissionRequest = PeerRequest.extend({
  allow: z.boolean(),
  what: z.array(z.string().min(1).max(128)).max(64),
  framesPerSecond: z.number().int().min(1).max(100_000).optional()
}).refine(request => request.what.length > 0 || request.framesPerSecond !== undefined, { message: 'name something to allow or deny, or a rate' })
const IpRequest = z.object({ cidr: z.string().refine(text => parseCidr(text) !== undefined, { message: 'not an IP address or CIDR' }) })

/** Loopback addresses go last: a token is mostly used from another machine. */
function inviteAddrs (addrs: string[]): string[] {
  const loopback = (addr: string): boolean => addr.startsWith('/ip4/127.') || addr.startsWith('/ip6/::1/')
  return [...addrs.filter(addr => !loopback(addr)), ...addrs.filter(loopback)]
}

/** Closes every connection from an address inside `cidr`; resolves with how many there were. */
async function hangUpAddresses (connections: Connection[], cidr: string): Promise<number> {
  const inside = ipMatcher([cidr])
  const matching = connections.filter(connection => {
    const ip = ipOf(connection.remoteAddr.toString())
    return ip !== undefined && inside(ip)
  })
  await Promise.all(matching.map(async connection => connection.close().catch(() => { connection.abort(new Error('address blocked')) })))
  return matching.length
}

/** The control routes that manage who may link and what they may do. */
export function managementRoutes (node: ManagementPort): ControlRoutes {
  const { store, access, link } = node
  const known = (nameOrPeerId: string): PeerRecord => {
    const peer = store.find(nameOrPeerId)
    if (peer === undefined) throw new ControlRefusal(`no peer named '${nameOrPeerId}' is known here; \`mycroft-mesh peers\` lists them`)
    return peer
  }

  const listing = (peer: PeerRecord): PeerListing => {
    const cutOff = access.cutOffPeers().some(cut => cut.peerId === peer.peerId)
    const linked = link.children.has(peer.peerId) || link.parent?.peerId === peer.peerId
    const permissions = { ...peer.permissions, files: peer.permissions.files ?? defaultPermissions(peer.role).files }
    return { ...peer, permissions, state: peer.revokedAt !== null ? 'revoked' : cutOff ? 'cut-off' : linked ? 'linked' : 'offline' }
  }

  return {
    'POST /invites': async body => {
      const request = parseRequest(InviteRequest, body)
      const holder = store.find(request.name)
      if (holder !== undefined && holder.revokedAt === null) {
        throw new ControlRefusal(`the name '${request.name}' already belongs to ${holder.peerId}; revoke it first or pick another name`)
      }
      const { invite, secret } = await store.createInvite(request.name, request.role, request.ttlMs)
      const token = encodeInviteToken({
        addrs: inviteAddrs(node.addrs()),
        peerId: node.peerId,
        secret,
        name: invite.name,
        role: invite.role,
        expiresAt: invite.expiresAt,
        skillsRoot: await node.skillsRoot()
      })
      return { token, name: invite.name, role: invite.role, expiresAt: invite.expiresAt }
    },

    'GET /peers': () => store.peers().map(listing),

    'POST /revoke': async body => {
      const peer = known(parseRequest(PeerRequest, body).peer)
      const revoked = await store.revoke(peer.peerId)
      access.forgive(peer.peerId)
      await link.dropChild(peer.peerId, 'this node revoked you; you need a new invite to link again', 'revoked')
      return revoked === undefined ? undefined : listing(revoked)
    },

    'POST /permissions': async body => {
      const request = parseRequest(PermissionRequest, body)
      const peer = known(request.peer)
      const updated = await store.setPermissions(peer.peerId, permissions => applyPermission(permissions, request.allow, request.what, request.framesPerSecond))
      if (request.framesPerSecond !== undefined) link.restateLimits(peer.peerId)
      return updated === undefined ? undefined : listing(updated)
    },

    'POST /block-ip': async body => {
      const { cidr } = parseRequest(IpRequest, body)
      await store.blockIp(cidr)
      access.reloadIpLists()
      return { blocked: cidr, dropped: await hangUpAddresses(node.connections(), cidr) }
    },

    'POST /unblock-ip': async body => {
      const { cidr } = parseRequest(IpRequest, body)
      const had = await store.unblockIp(cidr)
      if (!had) throw new ControlRefusal(`${cidr} was not blocked`)
      access.reloadIpLists()
      return { unblocked: cidr }
    }
  }
}
