import type { NodeStatus } from '../node/index.ts'

function ago (iso: string | null, now = Date.now()): string {
  if (iso === null) return ''
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (seconds < 120) return `${seconds} s ago`
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`
  return `${Math.round(seconds / 3600)} h ago`
}

const rtt = (ms: number | null): string => ms === null ? '' : `, rtt ${ms} ms`

/** The human-readable form of `status`. */
export function formatStatus (status: NodeStatus): string {
  const lines = [
    `${status.name}  ${status.peerId}`,
    `  version    ${status.version}, up since ${ago(status.startedAt)}`,
    `  home       ${status.home}`,
    ...status.addrs.map((addr, i) => `  ${i === 0 ? 'listening ' : '          '} ${addr}`)
  ]
  const parent = status.parent
  switch (parent.state) {
    case 'none':
      lines.push('  parent     none (this node is a root)')
      break
    case 'linked':
      lines.push(`  parent     linked to ${parent.name ?? '?'} (${parent.peerId ?? '?'}) at ${parent.addr ?? '?'}, since ${ago(parent.since)}${rtt(parent.rttMs)}`)
      break
    case 'connecting':
      lines.push(`  parent     connecting to ${parent.addr ?? '?'} since ${ago(parent.since)}, ${parent.attempts} failed attempt(s)${parent.lastError === null ? '' : `; last: ${parent.lastError}`}`)
      break
  }
  lines.push(`  children   ${status.children.length}`)
  for (const child of status.children) {
    lines.push(`    ${child.name}  ${child.peerId}  from ${child.addr}, since ${ago(child.since)}${rtt(child.rttMs)}`)
  }
  const bus = status.bus
  lines.push(bus.mode === 'none'
    ? '  bus        none'
    : `  bus        ${bus.mode} ${bus.url ?? ''}, ${bus.state}${bus.clients === null ? '' : `, ${bus.clients} client(s)`}`)
  const asks = status.asks
  lines.push(`  asked      ${asks.asksSent}: ${asks.answered} answered, ${asks.unanswered} unanswered, ${asks.timedOut} timed out, ${asks.failed} failed`)
  lines.push(`  answered   ${asks.answeredForChildren} of ${asks.asksFromChildren} questions from children, ${asks.forwardedUp} passed up, ${asks.refusedBusy} refused as busy`)
  const access = status.access
  const refused = Object.entries(access.refusedLinks).map(([code, count]) => `${count} ${code}`).join(', ')
  lines.push(`  access     ${access.open ? 'open (lab mode: no invite needed)' : 'by invite'}${access.houseKey ? ', house key' : ''}; refused links: ${refused === '' ? 'none' : refused}; refused connections: ${access.refusedConnections}; violations: ${access.violations}`)
  for (const cut of access.cutOff) lines.push(`    cut off: ${cut.name} until ${cut.until} (${cut.reason})`)
  return `${lines.join('\n')}\n`
}
