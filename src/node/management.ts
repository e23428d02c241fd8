import { z } from 'zod'
import { encodeInviteToken, parseCidr, RoleSchema, type PeerRecord, type Permissions } from '../access/index.ts'
import { NodeNameSchema } from '../routing/index.ts'
import { ControlRefusal, type ControlRoutes } from './control.ts'
import type { MeshNode } from './mesh-node.ts'

/** Words `allow`/`deny` take as capabilities; anything else is a Mycroft message type. */
export const CAPABILITIES = { ask: 'ask', relay: 'relay', broadcast: 'broadcast', 'push-skills': 'pushSkills' } as const
export type Capability = keyof typeof CAPABILITIES

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

function parse<T> (schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body)
  if (!parsed.success) throw new ControlRefusal(`${parsed.error.issues[0]?.path.join('.') ?? 'request'}: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
  return parsed.data
}

/** Loopback addresses go last: a token is mostly used from another machine. */
function inviteAddrs (addrs: string[]): string[] {
  const loopback = (addr: string): boolean => addr.startsWith('/ip4/127.') || addr.startsWith('/ip6/::1/')
  return [...addrs.filter(addr => !loopback(addr)), ...addrs.filter(loopback)]
}

function applyPermission (permissions: Permissions, allow: boolean, what: string[], framesPerSecond?: number): Permissions {
  const next = { ...permissions, busTypes: [...permissions.busTypes], framesPerSecond: framesPerSecond ?? permissions.framesPerSecond }
  for (const word of what) {
    if (word in CAPABILITIES) {
      next[CAPABILITIES[word as Capability]] = allow
    } else if (allow) {
      if (!next.busTypes.includes(word)) next.busTypes.push(word)
    } else {
      next.busTypes = next.busTypes.filter(type => type !== word)
    }
  }
  return next
}

/** The control routes that manage who may link and what they may do. */
export function managementRoutes (node: MeshNode): ControlRoutes {
  const store = (): MeshNode['accessControl']['store'] => node.accessControl.store
  const known = (nameOrPeerId: string): PeerRecord => {
    const peer = store().find(nameOrPeerId)
    if (peer === undefined) throw new ControlRefusal(`no peer named '${nameOrPeerId}' is known here; \`mycroft-mesh peers\` lists them`)
    return peer
  }

  const listing = (peer: PeerRecord): PeerListing => {
    const cutOff = node.accessControl.cutOffPeers().some(cut => cut.peerId === peer.peerId)
    const linked = node.link.children.has(peer.peerId) || node.parent?.peerId === peer.peerId
    return { ...peer, state: peer.revokedAt !== null ? 'revoked' : cutOff ? 'cut-off' : linked ? 'linked' : 'offline' }
  }

  return {
    'POST /invites': async body => {
      const request = parse(InviteRequest, body)
      const holder = store().find(request.name)
      if (holder !== undefined && holder.revokedAt === null) {
        throw new ControlRefusal(`the name '${request.name}' already belongs to ${holder.peerId}; revoke it first or pick another name`)
      }
      const { invite, secret } = await store().createInvite(request.name, request.role, request.ttlMs)
      const token = encodeInviteToken({
        addrs: inviteAddrs(node.addrs),
        peerId: node.peerId,
        secret,
        name: invite.name,
        role: invite.role,
        expiresAt: invite.expiresAt
      })
      return { token, name: invite.name, role: invite.role, expiresAt: invite.expiresAt }
    },

    'GET /peers': () => store().peers().map(listing),

    'POST /revoke': async body => {
      const peer = known(parse(PeerRequest, body).peer)
      const revoked = await store().revoke(peer.peerId)
      node.accessControl.forgive(peer.peerId)
      await node.link.dropChild(peer.peerId, 'this node revoked you; you need a new invite to link again', 'revoked')
      return revoked === undefined ? undefined : listing(revoked)
    },

    'POST /permissions': async body => {
      const request = parse(PermissionRequest, body)
      const peer = known(request.peer)
      const updated = await store().setPermissions(peer.peerId, permissions => applyPermission(permissions, request.allow, request.what, request.framesPerSecond))
      return updated === undefined ? undefined : listing(updated)
    },

    'POST /block-ip': async body => {
      const { cidr } = parse(IpRequest, body)
      await store().blockIp(cidr)
      node.accessControl.reloadIpLists()
      return { blocked: cidr, dropped: await node.hangUpAddresses(cidr) }
    },

    'POST /unblock-ip': async body => {
      const { cidr } = parse(IpRequest, body)
      const had = await store().unblockIp(cidr)
      if (!had) throw new ControlRefusal(`${cidr} was not blocked`)
      node.accessControl.reloadIpLists()
      return { unblocked: cidr }
    }
  }
}
