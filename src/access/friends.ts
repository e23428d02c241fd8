import type { FriendRecord, FriendRequest, TrustStore } from './trust-store.ts'
import type { Consent } from '../routing/index.ts'

/** Friend requests kept at most: the oldest goes when another node tries. */
const MAX_REQUESTS = 64
/** The owner hears of one node's attempts at most this often, however many it makes. */
export const ATTEMPT_NOTICE_MS = 10 * 60_000
const PEER_ID = /^(12D3Koo|Qm)[1-9A-HJ-NP-Za-km-z]{40,}$/

export interface FriendsInit {
  store: TrustStore
  /** the rest of the house may always send (on unless the owner wants only some of them) */
  housemates?: boolean
  /** a node became a friend: the nodes on the way should forget they saw it refused */
  onFriend?: (peerId: string) => void
}

/**
 * Who may speak to this node through the mesh: its housemates (unless the owner wants only some), and the nodes on
 * its friend list, each for the message types it was given. Anyone else is refused, and becomes a friend request
 * the owner accepts or declines; its attempts are counted, and told to the owner once an interval.
 */
export class Friends implements Consent {
  private readonly store: TrustStore
  private readonly housemates: boolean
  private readonly onFriend?: (peerId: string) => void
  private readonly noticedAt = new Map<string, number>()

  constructor (init: FriendsInit) {
    this.store = init.store
    this.housemates = init.housemates ?? true
    this.onFriend = init.onFriend
  }

  allows (origin: string, type: string, housemate: boolean): boolean {
    if (housemate && this.housemates) return true
    return this.store.friends().find(friend => friend.peerId === origin)?.types.includes(type) ?? false
  }

  async attempted (origin: string, name: string): Promise<boolean> {
    const now = Date.now()
    const known = this.store.friendRequests().find(request => request.peerId === origin)
    const due = now - (this.noticedAt.get(origin) ?? 0) >= ATTEMPT_NOTICE_MS
    if (known !== undefined && !due) return false
    this.noticedAt.set(origin, now)
    const at = new Date(now).toISOString()
    await this.store.updateFriends((friends, requests) => {
      const previous = requests.find(request => request.peerId === origin)
      const others = requests.filter(request => request.peerId !== origin)
      const request: FriendRequest = previous === undefined
        ? { peerId: origin, name, firstAt: at, lastAt: at, attempts: 1 }
        : { ...previous, name, lastAt: at, attempts: previous.attempts + 1 }
      return { friends, requests: [...others, request].slice(-MAX_REQUESTS) }
    })
    return true
  }

  list (): readonly FriendRecord[] {
    return this.store.friends()
  }

  requests (): readonly FriendRequest[] {
    return this.store.friendRequests()
  }

  /**
   * A friend by peer id, or by the name a request (or the list) gives it; `types` default to `speak`. Undefined when
   * `who` is neither a peer id nor a name this node has heard.
   */
  async add (who: string, types: string[] = ['speak'], name?: string): Promise<FriendRecord | undefined> {
    const request = this.requestOf(who)
    const listed = this.store.friends().find(friend => friend.peerId === who || friend.name === who)
    const peerId = request?.peerId ?? listed?.peerId ?? (PEER_ID.test(who) ? who : undefined)
    if (peerId === undefined) return undefined
    const friend: FriendRecord = { peerId, name: name ?? request?.name ?? listed?.name ?? who, types, addedAt: new Date().toISOString() }
    await this.store.updateFriends((friends, requests) => ({
      friends: [...friends.filter(old => old.peerId !== peerId), friend],
      requests: requests.filter(old => old.peerId !== peerId)
    }))
    this.onFriend?.(peerId)
    return friend
  }

  /** Takes a node off the friend list (by name or peer id); false when it was not on it. */
  async remove (who: string): Promise<boolean> {
    const friend = this.store.friends().find(candidate => candidate.peerId === who || candidate.name === who)
    if (friend === undefined) return false
    await this.store.updateFriends((friends, requests) => ({ friends: friends.filter(old => old.peerId !== friend.peerId), requests }))
    return true
  }

  /** Forgets a friend request; the node stays refused. False when there was none. */
  async decline (who: string): Promise<boolean> {
    const request = this.requestOf(who)
    if (request === undefined) return false
    await this.store.updateFriends((friends, requests) => ({ friends, requests: requests.filter(old => old.peerId !== request.peerId) }))
    return true
  }

  private requestOf (who: string): FriendRequest | undefined {
    return this.store.friendRequests().find(request => request.peerId === who || request.name === who)
  }
}
