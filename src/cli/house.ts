import { ExitCode, UserError } from '../common/index.ts'
import { parseDuration } from './manage.ts'
import { ask, print } from './node-client.ts'
import type { Outcome, Room, RoomMail } from '../routing/index.ts'
import type { Command, Option } from 'commander'

function formatRooms (rooms: Room[]): string {
  const width = Math.max(4, ...rooms.map(room => room.name.length))
  const line = (room: Room): string => `${room.name.padEnd(width)}  ${room.state.padEnd(7)}  ${room.parent === '' ? '(top of the house)' : room.parent}`
  return [`${'room'.padEnd(width)}  ${'state'.padEnd(7)}  hangs under`, ...rooms.map(line)].join('\n')
}

function parseData (text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined
  try {
    const data = JSON.parse(text) as unknown
    if (typeof data === 'object' && data !== null && !Array.isArray(data)) return data as Record<string, unknown>
  } catch {
    // said below
  }
  throw new UserError(`--data: expected a JSON object, such as '{"utterance": "hello"}', got '${text}'`, ExitCode.usage)
}

/** `rooms`, `send`, `mail`, `ask`, `announce`: the house, through the running node. */
export function addHouseCommands (program: Command, homeOption: () => Option): void {
  program.command('rooms')
    .description('list the rooms of the house: every node below its hub, and where each hangs')
    .addOption(homeOption())
    .option('--json', 'print JSON instead of a table')
    .action(async (flags: { home?: string, json?: boolean }) => {
      const rooms = await ask(flags.home, '/rooms') as Room[]
      print(flags.json === true ? JSON.stringify(rooms, null, 2) : formatRooms(rooms))
    })

  program.command('send')
    .description('tell one room something: the text is spoken there (or --type/--data send any message type the room allows)')
    .addOption(homeOption())
    .requiredOption('--to <room>', 'the room\'s name')
    .option('--type <type>', 'a Mycroft message type instead of speak')
    .option('--data <json>', 'the message\'s data, a JSON object')
    .option('--ttl <duration>', 'how long it may wait for the room, should the room be away: 90s, 10m, 2h, 7d', parseDuration)
    .argument('[text...]', 'what to say')
    .action(async (words: string[], flags: { home?: string, to: string, type?: string, data?: string, ttl?: number }) => {
      const text = words.length === 0 ? undefined : words.join(' ')
      const outcome = await ask(flags.home, '/send', { to: flags.to, type: flags.type, text, data: parseData(flags.data), ttlMs: flags.ttl }) as Outcome
      if (outcome.status === 'queued') {
        print(`${flags.to} is away: the message waits for it, and is delivered when it is back`)
        return
      }
      if (outcome.status !== 'delivered') throw new UserError(`not delivered to ${flags.to}: ${outcome.status}${outcome.reason === undefined ? '' : ` (${outcome.reason})`}`)
      print(`delivered to ${flags.to}`)
    })

  program.command('mail')
    .description('list the messages waiting on this node for rooms that are away')
    .addOption(homeOption())
    .option('--json', 'print JSON instead of a table')
    .action(async (flags: { home?: string, json?: boolean }) => {
      const mail = await ask(flags.home, '/mail') as RoomMail[]
      if (flags.json === true) print(JSON.stringify(mail, null, 2))
      else if (mail.length === 0) print('no mail waits here')
      else print(mail.map(room => `${room.room}: ${room.count} message(s), ${room.bytes} bytes, the oldest from ${room.oldest}`).join('\n'))
    })

  program.command('ask')
    .description('ask a question: of one room\'s assistant (--to), or up the tree as an utterance this node could not answer')
    .addOption(homeOption())
    .option('--to <room>', 'the room whose assistant should answer')
    .argument('<question...>', 'what to ask')
    .action(async (words: string[], flags: { home?: string, to?: string }) => {
      const outcome = await ask(flags.home, '/ask', { to: flags.to, text: words.join(' ') }) as Outcome
      if (outcome.status !== 'answered') throw new UserError(`no answer${flags.to === undefined ? '' : ` from ${flags.to}`}: ${outcome.status}${outcome.reason === undefined ? '' : ` (${outcome.reason})`}`)
      print((outcome.speaks ?? []).map(speak => speak.utterance).join('\n'))
    })

  program.command('announce')
    .description('say something in every room of the house, once each')
    .addOption(homeOption())
    .argument('<text...>', 'what to say')
    .action(async (words: string[], flags: { home?: string }) => {
      const { rooms } = await ask(flags.home, '/announce', { text: words.join(' ') }) as { rooms: number }
      print(rooms === 0 ? 'announced, but no other room is linked to hear it' : 'announced to the house')
    })
}
