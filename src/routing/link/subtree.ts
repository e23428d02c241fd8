import { SUBTREE_REPORT_DELAY_MS } from './constants.ts'
import { LinkKind, MAX_SUBTREE, type LinkLimits } from './messages.ts'
import type { LinkCapability } from './capability.ts'
import type { ChildLink, ParentLinkSession } from './index.ts'

/** How many nodes a subtree holds, this node included, as its children announced theirs. */
export function subtreeSize (children: Iterable<ChildLink>): number {
  let size = 1
  for (const child of children) size += child.subtree
  return Math.min(size, MAX_SUBTREE)
}

/**
 * What a node holds a child to: the link's frame rate and each capability's own limits, all grown by the subtree
 * the child serves, so a hub of 20 rooms is served like 20 rooms.
 */
export function limitsFor (subtree: number, framesPerSecond: number | undefined, capabilities: Iterable<LinkCapability>): LinkLimits {
  const weight = Math.min(Math.max(1, subtree), MAX_SUBTREE)
  const limits: LinkLimits = {}
  if (framesPerSecond !== undefined) limits.framesPerSecond = framesPerSecond * weight
  for (const capability of new Set(capabilities)) Object.assign(limits, capability.limits?.(weight))
  return limits
}

/** Tells the parent a changed subtree size, a moment later: 200 children linking at once make one report. */
export class SubtreeReporter {
  /** the size last told to the parent (in hello, or a report since) */
  reported = 1
  private timer?: ReturnType<typeof setTimeout>
  private readonly size: () => number
  private readonly parent: () => ParentLinkSession | undefined

  constructor (size: () => number, parent: () => ParentLinkSession | undefined) {
    this.size = size
    this.parent = parent
  }

  schedule (): void {
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      const size = this.size()
      const parent = this.parent()
      if (parent === undefined || size === this.reported) return
      this.reported = size
      parent.session.send(LinkKind.subtreeSize, { size }).catch(() => {})
    }, SUBTREE_REPORT_DELAY_MS)
    this.timer.unref()
  }

  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }
}
