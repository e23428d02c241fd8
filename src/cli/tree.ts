import type { MeshTree, TreeNode } from '../node/index.ts'

const COLOURS: Record<string, string> = { linked: '32', self: '1', offline: '31', connecting: '33', none: '2' }

/** The tree in box-drawing lines, each node with its state and, for the nodes this one links, its round-trip time. */
export function formatTree (tree: MeshTree, colour: boolean): string {
  const paint = (state: string, text: string): string => colour && COLOURS[state] !== undefined ? `\x1b[${COLOURS[state]}m${text}\x1b[0m` : text
  const rtt = (ms: number | null): string => ms === null ? '' : `  ${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`
  const lines: string[] = []
  let indent = ''
  if (tree.parent !== null) {
    lines.push(`${tree.parent.name ?? tree.parent.peerId ?? 'parent'}  ${paint(tree.parent.state, tree.parent.state)}${rtt(tree.parent.rttMs)}  (parent)`)
    lines.push(`└── ${paint('self', tree.node.name)}  (this node)`)
    indent = '    '
  } else {
    lines.push(`${paint('self', tree.node.name)}  (this node)`)
  }
  const draw = (nodes: TreeNode[], prefix: string): void => {
    nodes.forEach((node, i) => {
      const last = i === nodes.length - 1
      lines.push(`${prefix}${last ? '└── ' : '├── '}${node.name}  ${paint(node.state, node.state)}${rtt(node.rttMs)}`)
      draw(node.children, `${prefix}${last ? '    ' : '│   '}`)
    })
  }
  draw(tree.node.children, indent)
  return `${lines.join('\n')}\n`
}
