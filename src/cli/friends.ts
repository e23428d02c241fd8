import { ExitCode, UserError } from '../common/index.ts'
import { ask, print } from './node-client.ts'
import type { FriendRecord, FriendRequest } from '../access/index.ts'
import type { Command, Option } from 'commander'

function parseTypes (text: string): string[] {
  const types = text.split(',').map(type => type.trim()).filter(type => type !== '')
  if (types.length === 0) throw new UserError(`--types: expected message types separated by commas, such as speak,mesh.note, got '${text}'`, ExitCode.usage)
  return types
}

const requestLine = (request: FriendRequest): string => `${request.name}  ${request.peerId}  tried ${request.attempts} time(s), last ${request.lastAt}`

/** `friends`, `friend add|remove|requests|accept|decline`: who may speak to this node from outside its house. */
export function addFriendCommands (program: Command, homeOption: () => Option): void {
  program.command('friends')
    .description('list this node\'s friends (who may reach it from outside its house) and the friend requests waiting')
    .addOption(homeOption())
    .option('--json', 'print JSON instead of a table')
    .action(async (flags: { home?: string, json?: boolean }) => {
      const { friends, requests } = await ask(flags.home, '/friends') as { friends: FriendRecord[], requests: FriendRequest[] }
      if (flags.json === true) {
        print(JSON.stringify({ friends, requests }, null, 2))
        return
      }
      print([
        friends.length === 0 ? 'no friends yet' : friends.map(friend => `${friend.name}  ${friend.peerId}  may send: ${friend.types.join(', ')}`).join('\n'),
        ...(requests.length === 0 ? [] : ['requests:', ...requests.map(request => `  ${requestLine(request)}`)])
      ].join('\n'))
    })

  const friend = program.command('friend').description('add, remove, accept or decline a friend')
  const action = (name: string, description: string, what: string): void => {
    friend.command(name)
      .description(description)
      .addOption(homeOption())
      .argument('<who>', what)
      .option('--types <types>', 'the message types it may send, separated by commas (default: speak)', parseTypes)
      .action(async (who: string, flags: { home?: string, types?: string[] }) => {
        const done = await ask(flags.home, '/friends', { action: name, who, types: flags.types }) as { name?: string, types?: string[] }
        print(name === 'add' || name === 'accept' ? `${done.name ?? who} is a friend now; it may send: ${(done.types ?? []).join(', ')}` : `${who}: ${name === 'remove' ? 'no longer a friend' : 'request declined'}`)
      })
  }
  action('add', 'make a node a friend: by the name its request gave, or by its peer id', 'a name or a peer id')
  action('accept', 'accept a friend request', 'the name the request gave')
  action('decline', 'decline a friend request; the node stays refused', 'the name the request gave')
  action('remove', 'take a node off the friend list', 'a name or a peer id')
  friend.command('requests')
    .description('the nodes that tried to reach this one and are not its friends')
    .addOption(homeOption())
    .action(async (flags: { home?: string }) => {
      const { requests } = await ask(flags.home, '/friends') as { requests: FriendRequest[] }
      print(requests.length === 0 ? 'no friend requests' : requests.map(requestLine).join('\n'))
    })
}
