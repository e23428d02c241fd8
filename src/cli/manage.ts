import { Option, type Command } from 'commander'
import { ExitCode, UserError } from '../common/index.ts'
import { ask, print } from './node-client.ts'
import type { PeerListing } from '../node/index.ts'

const DURATION_UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `90s`, `10m`, `2h`, `7d` → milliseconds. */
export function parseDuration (text: string): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim())
  if (match === null) throw new UserError(`--ttl: expected a duration such as 90s, 10m, 2h or 7d, got '${text}'`, ExitCode.usage)
  return Number(match[1]) * (DURATION_UNITS[match[2] ?? 's'] ?? 1_000)
}

function parseRate (text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UserError(`--rate: expected a whole number of frames per second, got '${text}'`, ExitCode.usage)
  return Number(text)
}


function formatPeers (peers: PeerListing[]): string {
  if (peers.length === 0) return 'no peers known yet; invite one with `mycroft-mesh invite --name NAME`'
  const rows = peers.map(peer => [
    peer.name,
    peer.role,
    peer.state,
    [
      peer.permissions.ask ? 'ask' : '',
      peer.permissions.relay ? 'relay' : '',
      peer.permissions.broadcast ? 'broadcast' : '',
      peer.permissions.pushSkills ? 'push-skills' : '',
      peer.permissions.files === true ? 'files' : '',
      ...peer.permissions.busTypes,
      `${peer.permissions.framesPerSecond}/s`
    ].filter(word => word !== '').join(','),
    peer.lastSeen ?? 'never',
    peer.peerId
  ])
  const header = ['NAME', 'ROLE', 'STATE', 'MAY', 'LAST SEEN', 'PEER ID']
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map(row => (row[i] ?? '').length)))
  return [header, ...rows].map(row => row.map((cell, i) => (cell ?? '').padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n')
}

/** invite, peers, allow, deny, revoke, block-ip, unblock-ip, house-key. */
export function addManagementCommands (program: Command, homeOption: () => Option): void {
  program.command('invite')
    .description('make a one-time invite for a new child or friend; the token is printed alone on the last line')
    .addOption(homeOption())
    .requiredOption('--name <name>', 'the name the new peer will have here')
    .option('--ttl <duration>', 'how long the invite stays valid: 90s, 10m, 2h, 7d', '10m')
    .addOption(new Option('--role <role>', 'what the new peer will be').choices(['child', 'friend']).default('child'))
    .action(async (flags: { home?: string, name: string, ttl: string, role: string }) => {
      const ttlMs = parseDuration(flags.ttl)
      const invite = await ask(flags.home, '/invites', { name: flags.name, role: flags.role, ttlMs }) as { token: string, expiresAt: string }
      process.stderr.write(`invite for ${flags.name} (${flags.role}), valid once until ${invite.expiresAt}; on the new node run:\n  mycroft-mesh start --join <token>\n`)
      print(invite.token)
    })

  program.command('peers')
    .description('list the peers this node knows, with role, permissions and state')
    .addOption(homeOption())
    .option('--json', 'print JSON instead of a table')
    .action(async (flags: { home?: string, json?: boolean }) => {
      const peers = await ask(flags.home, '/peers') as PeerListing[]
      print(flags.json === true ? JSON.stringify(peers, null, 2) : formatPeers(peers))
    })

  for (const [verb, allow] of [['allow', true], ['deny', false]] as const) {
    program.command(verb)
      .description(`${verb} a peer a Mycroft message type on this node's bus, or a permission word such as ask`)
      .addOption(homeOption())
      .argument('<peer>', 'the peer\'s name or peer id')
      .argument('[what...]', 'message types (e.g. speak) or permission words (e.g. ask)')
      .option('--rate <frames-per-second>', 'also set how many frames per second the peer may send', parseRate)
      .action(async (peer: string, what: string[], flags: { home?: string, rate?: number }) => {
        const updated = await ask(flags.home, '/permissions', { peer, allow, what, framesPerSecond: flags.rate }) as PeerListing
        print(formatPeers([updated]))
      })
  }

  program.command('revoke')
    .description('drop a peer at once; it cannot link again without a new invite')
    .addOption(homeOption())
    .argument('<peer>', 'the peer\'s name or peer id')
    .action(async (peer: string, flags: { home?: string }) => {
      const revoked = await ask(flags.home, '/revoke', { peer }) as PeerListing
      print(`revoked ${revoked.name} (${revoked.peerId})`)
    })

  for (const [command, route, done] of [['block-ip', '/block-ip', 'blocked'], ['unblock-ip', '/unblock-ip', 'unblocked']] as const) {
    program.command(command)
      .description(command === 'block-ip' ? 'refuse every connection from an address or CIDR, before any handshake, and drop those open now' : 'lift a block-ip')
      .addOption(homeOption())
      .argument('<cidr>', 'an IP address or CIDR, e.g. 192.168.1.66 or 10.0.0.0/8')
      .action(async (cidr: string, flags: { home?: string }) => {
        const result = await ask(flags.home, route, { cidr }) as { dropped?: number }
        print(`${done} ${cidr}${result.dropped === undefined ? '' : `; ${result.dropped} open connection(s) dropped`}`)
      })
  }

  program.command('house-key')
    .description('print a new house key; give every node of the house the same file with --house-key FILE')
    .action(async () => {
      // loaded here: the other commands only talk to the control socket
      const { HouseKey } = await import('../house/index.ts')
      process.stdout.write(HouseKey.generate())
    })
}
