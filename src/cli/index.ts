import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { ExitCode, UserError, VERSION, createLogger, errorMessage, type Logger } from '../common/index.ts'
import { defaultHomeDir, ensureHome, homePaths, queryControl } from '../control/index.ts'
import { formatStatus } from './format.ts'
import { addFileCommands } from './files.ts'
import { addFriendCommands } from './friends.ts'
import { addHouseCommands } from './house.ts'
import { addSkillCommands } from './skills.ts'
import { addManagementCommands } from './manage.ts'
import { formatTree } from './tree.ts'
import type { MeshTree, NodeStatus } from '../node/index.ts'
import type { StartFlags } from './start.ts'

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value]

/** A repeatable flag with fixed choices, refused as commander refuses any other flag's bad choice. */
const collectChoice = (choices: string[]) => (value: string, previous: string[] | undefined): string[] => {
  if (!choices.includes(value)) throw new InvalidArgumentError(`Allowed choices are ${choices.join(', ')}.`)
  return collect(value, previous)
}

function parseInteger (flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new UserError(`${flag}: expected a whole number, got '${value}'`, ExitCode.usage)
    return Number(value)
  }
}

const homeOption = (): Option => new Option('--home <dir>', 'the node\'s home: identity, config, control socket (default: $MYCROFT_MESH_HOME, else $XDG_CONFIG_HOME/mycroft-mesh, else ~/.config/mycroft-mesh)')

async function printId (flags: { home?: string }): Promise<void> {
  const paths = homePaths(flags.home ?? defaultHomeDir())
  await ensureHome(paths)
  const { loadOrCreateIdentity } = await import('../node/index.ts')
  const identity = await loadOrCreateIdentity(paths.identity)
  process.stdout.write(`${identity.peerId.toString()}\n`)
}

async function printStatus (flags: { home?: string, json?: boolean, tree?: boolean }): Promise<void> {
  const paths = homePaths(flags.home ?? defaultHomeDir())
  if (flags.tree === true) {
    const tree = await queryControl(paths.controlSocket, paths.dir, '/tree') as MeshTree
    process.stdout.write(flags.json === true ? `${JSON.stringify(tree, null, 2)}\n` : formatTree(tree, process.stdout.isTTY && process.env.NO_COLOR === undefined))
    return
  }
  const status = await queryControl(paths.controlSocket, paths.dir, '/status') as NodeStatus
  process.stdout.write(flags.json === true ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status))
}

export function buildProgram (): Command {
  const program = new Command('mycroft-mesh')
    .description('A peer node that joins voice assistants (OpenVoiceOS, Neon, Mycroft) into one mesh.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()

  program.command('start')
    .description('run the node in the foreground until SIGINT or SIGTERM')
    .addOption(homeOption())
    .option('--name <name>', 'the name other nodes know this one by (default: the host name)')
    .option('--listen <multiaddr>', 'an address to listen on; repeat for more (default: /ip4/0.0.0.0/tcp/4773)', collect)
    .option('--parent <multiaddr>', 'the parent to link to, e.g. /ip4/192.168.1.20/tcp/4773/p2p/12D3Koo…')
    .option('--bus <spec>', 'the local messagebus: a ws:// URL, embedded[:PORT], auto or none (default: auto)')
    .addOption(new Option('--muxer <name>', 'a stream muxer to offer, in order of preference; repeat for more (default: yamux then mplex)')
      .choices(['yamux', 'mplex']).argParser(collectChoice(['yamux', 'mplex'])))
    .option('--heartbeat-ms <ms>', 'how long a link waits for an answer before it pings (default: 5000)', parseInteger('--heartbeat-ms'))
    .option('--fallback', 'register as an OVOS fallback skill to notice unanswered utterances (the default)')
    .option('--no-fallback', 'do not register as an OVOS fallback skill')
    .option('--fallback-priority <n>', 'the fallback priority; below 100 asks the mesh before the stock "I don\'t know" (default: 95)', parseInteger('--fallback-priority'))
    .option('--classic-signals', 'ask the mesh on classic Mycroft intent failures (the default)')
    .option('--no-classic-signals', 'ignore classic Mycroft intent failures')
    .option('--safety-net-ms <ms>', 'ask the mesh when nothing handled an utterance for this long; 0 turns it off (default: 20000)', parseInteger('--safety-net-ms'))
    .option('--ask-timeout-ms <ms>', 'how long to wait for the mesh to answer (default: 15000)', parseInteger('--ask-timeout-ms'))
    .option('--join <token>', 'join a parent with an invite token from `mycroft-mesh invite`; once welcomed, the parent is saved in the config')
    .option('--house-key <file>', 'a house key from `mycroft-mesh house-key`: with --hub, the rooms that hold it link with no invite; a room finds its hub by it')
    .option('--metrics <host:port>', 'serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9477)')
    .option('--dashboard <host:port>', 'serve the live page from the start, at http://HOST:PORT/ with its token (`mycroft-mesh dashboard` prints the URL)')
    .option('--hub', 'with --house-key: be the house\'s hub, found by every room on the LAN (mDNS); each holder of the key links as a room, no invite needed')
    .option('--open', 'lab mode: let any peer that knows the address link as a child, without an invite')
    .option('--json-logs', 'log one JSON object per line, for machines')
    .addOption(new Option('--log-level <level>', 'how much to log').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']))
    // the node is loaded only to run it: every other command just talks to its control socket
    .action(async (flags: StartFlags) => { await (await import('./start.ts')).start(flags) })

  addManagementCommands(program, homeOption)
  addHouseCommands(program, homeOption)
  addFriendCommands(program, homeOption)
  addFileCommands(program, homeOption)
  addSkillCommands(program, homeOption)

  program.command('id')
    .description('print this node\'s peer id alone on stdout (creating the identity if it is new)')
    .addOption(homeOption())
    .action(printId)

  program.command('dashboard')
    .description('print the URL of the running node\'s live page (the tree, questions, refusals, transfers), starting it if need be; loopback unless the config says otherwise')
    .addOption(homeOption())
    .action(async (flags: { home?: string }) => {
      const paths = homePaths(flags.home ?? defaultHomeDir())
      const { url } = await queryControl(paths.controlSocket, paths.dir, '/dashboard', {}) as { url: string }
      process.stdout.write(`${url}\n`)
    })

  program.command('status')
    .description('ask the running node of a home for its state')
    .addOption(homeOption())
    .option('--tree', 'the tree as this node knows it: its parent, itself and every node below, with state and round-trip time')
    .option('--json', 'print JSON instead of text')
    .action(printStatus)

  return program
}

/** Runs the CLI and resolves with the process exit code. */
export async function main (argv: string[], log?: Logger): Promise<number> {
  try {
    await buildProgram().parseAsync(argv)
    return ExitCode.ok
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help'
        ? ExitCode.ok
        : ExitCode.usage
    }
    if (err instanceof UserError) {
      process.stderr.write(`mycroft-mesh: ${err.message}\n`)
      return err.exitCode
    }
    const logger = log ?? await createLogger()
    logger.error({ err }, `failed: ${errorMessage(err)}`)
    return ExitCode.failure
  }
}
