import type { ParentStatus } from './parent-link.ts'
import type { ChildStatus } from './status.ts'
import type { Room } from '../routing/index.ts'

/** One node of the tree as this node knows it: round-trip times for the nodes it links itself. */
export interface TreeNode {
  name: string
  peerId: string
  state: 'self' | 'linked' | 'offline'
  rttMs: number | null
  children: TreeNode[]
}

/** `status --tree`: the parent above this node (when it has one), and this node's subtree under it. */
export interface MeshTree {
  parent: { name: string | null, peerId: string | null, state: ParentStatus['state'], rttMs: number | null } | null
  node: TreeNode
}

/** The tree from what this node knows: its parent link, its children's links, and the subtree they reported. */
export function buildTree (self: { name: string, peerId: string }, parent: ParentStatus, children: ChildStatus[], below: Room[]): MeshTree {
  const rtt = new Map(children.map(child => [child.peerId, child.rttMs]))
  const byParent = new Map<string, Room[]>()
  for (const room of below) byParent.set(room.parent, [...byParent.get(room.parent) ?? [], room])
  const seen = new Set<string>([self.peerId])
  // a name reported twice (or a loop in what children said) is drawn once
  const under = (name: string): TreeNode[] => {
    const nodes: TreeNode[] = []
    for (const room of byParent.get(name) ?? []) {
      if (seen.has(room.peerId)) continue
      seen.add(room.peerId)
      nodes.push({ name: room.name, peerId: room.peerId, state: room.state, rttMs: rtt.get(room.peerId) ?? null, children: under(room.name) })
    }
    return nodes
  }
  return {
    parent: parent.state === 'none' ? null : { name: parent.name, peerId: parent.peerId, state: parent.state, rttMs: parent.rttMs },
    node: { name: self.name, peerId: self.peerId, state: 'self', rttMs: null, children: under(self.name) }
  }
}
