import type { NodeStatus } from '../node/index.ts'

function ago (iso: string | null, now = Date.now()): string {
  if (iso === null) return ''
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (seconds < 120) return `${seconds} s ago`
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`
  return `${Math.round(seconds / 3600)} h ago`
}

const rtt = (ms: number | null): string => ms === null ? '' : `, rtt ${ms} ms`

type Section = Record<string, unknown>

const CORE_FIELDS = new Set(['peerId', 'name', 'version', 'home', 'addrs', 'startedAt', 'parent', 'children', 'process'])

const count = (section: Section, key: string): number => {
  const value = section[key]
  return typeof value === 'number' ? value : 0
}
const text = (section: Section, key: string): string => {
  const value = section[key]
  return typeof value === 'string' ? value : ''
}
/** `unknownKinds` → `unknown kinds` */
const words = (name: string): string => name.replace(/[A-Z]/g, letter => ` ${letter.toLowerCase()}`)

function counts (value: unknown): string {
  const entries = Object.entries(value as Record<string, unknown>).filter(([, n]) => typeof n === 'number')
  return entries.length === 0 ? 'none' : entries.map(([key, n]) => `${String(n)} ${key}`).join(', ')
}

/** The sections this table has a line of its own for; every other one is shown as its counters in words. */
const SECTION_LINES: Record<string, (section: Section) => string[]> = {
  bus: bus => [text(bus, 'mode') === 'none'
    ? '  bus        none'
    : `  bus        ${text(bus, 'mode')} ${text(bus, 'url')}, ${text(bus, 'state')}${typeof bus.clients === 'number' ? `, ${bus.clients} client(s)` : ''}`],
  asks: asks => [
    `  asked      ${count(asks, 'asksSent')}: ${count(asks, 'answered')} answered, ${count(asks, 'unanswered')} unanswered, ${count(asks, 'timedOut')} timed out, ${count(asks, 'failed')} failed`,
    `  answered   ${count(asks, 'answeredForChildren')} of ${count(asks, 'asksFromChildren')} questions from children, ${count(asks, 'forwardedUp')} passed up, ${count(asks, 'refusedBusy')} refused as busy`
  ],
  access: access => [
    `  access     ${access.open === true ? 'open (lab mode: no invite needed)' : 'by invite'}${access.houseKey === true ? ', house key' : ''}; refused links: ${counts(access.refusedLinks ?? {})}; refused connections: ${count(access, 'refusedConnections')}; failed handshakes: ${count(access, 'failedHandshakes')}; strangers turned away: ${count(access, 'strangersTurnedAway')}; told to wait: ${count(access, 'throttled')}; busy: ${count(access, 'busy')}; violations: ${count(access, 'violations')}`,
    ...(Array.isArray(access.cutOff) ? access.cutOff as Array<{ name: string, until: string, reason: string }> : []).map(cut => `    cut off: ${cut.name} until ${cut.until} (${cut.reason})`)
  ]
}

function sectionLine (name: string, section: Section): string {
  const figures = Object.entries(section).flatMap(([key, value]) => {
    if (typeof value === 'number') return [`${value} ${words(key)}`]
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return [`${words(key)}: ${counts(value)}`]
    return []
  })
  return `  ${name.padEnd(10)} ${figures.join(', ')}`
}

/** The human-readable form of `status`. */
/** The limits a parent stated, as `; limits: 50 framesPerSecond, 8 asksInFlight`. */
function limitsText (limits: Record<string, number> | null): string {
  if (limits === null || Object.keys(limits).length === 0) return ''
  return `; limits: ${Object.entries(limits).map(([name, value]) => `${value} ${name}`).join(', ')}`
}

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
      lines.push(`  parent     linked to ${parent.name ?? '?'} (${parent.peerId ?? '?'}) at ${parent.addr ?? '?'}, since ${ago(parent.since)}${rtt(parent.rttMs)}${limitsText(parent.limits)}`)
      break
    case 'connecting':
      lines.push(`  parent     connecting to ${parent.addr ?? '?'} since ${ago(parent.since)}, ${parent.attempts} failed attempt(s)${parent.lastError === null ? '' : `; last: ${parent.lastError}`}`)
      break
  }
  lines.push(`  children   ${status.children.length}`)
  for (const child of status.children) {
    lines.push(`    ${child.name}  ${child.peerId}  from ${child.addr}, since ${ago(child.since)}${rtt(child.rttMs)}${child.subtree > 1 ? `, speaks for ${child.subtree} nodes` : ''}`)
  }
  const sections = Object.entries(status).filter(([name, section]) => !CORE_FIELDS.has(name) && typeof section === 'object' && section !== null)
  for (const [name, line] of Object.entries(SECTION_LINES)) {
    const section = sections.find(([key]) => key === name)?.[1]
    if (section !== undefined) lines.push(...line(section as Section))
  }
  for (const [name, section] of sections) if (!(name in SECTION_LINES)) lines.push(sectionLine(name, section as Section))
  return `${lines.join('\n')}\n`
}
