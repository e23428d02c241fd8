import { resolve } from 'node:path'
import { formatBytes, UserError } from '../common/index.ts'
import { ask, print } from './node-client.ts'
import type { InboxEntry, TransferState } from '../files/index.ts'
import type { Command, Option } from 'commander'

interface FilesListing {
  inbox: InboxEntry[]
  transfers: TransferState[]
}

const POLL_MS = 200
/** Without a terminal, a progress line at most this often. */
const PLAIN_LINE_MS = 2_000

/** One progress line: bytes of the total, rate, time left; with a bar on a terminal. */
export function progressLine (transfer: TransferState, bar: boolean): string {
  const share = transfer.size === 0 ? 1 : transfer.bytes / transfer.size
  const left = transfer.rate > 0 ? Math.ceil((transfer.size - transfer.bytes) / transfer.rate) : undefined
  const width = 24
  const filled = Math.round(share * width)
  return [
    bar ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]` : transfer.name,
    `${Math.floor(share * 100)}%`.padStart(4),
    `${formatBytes(transfer.bytes)} / ${formatBytes(transfer.size)}`,
    `${formatBytes(transfer.rate)}/s`,
    left === undefined ? '' : `${left} s left`
  ].filter(part => part !== '').join('  ')
}

function formatListing ({ inbox, transfers }: FilesListing): string {
  const underWay = transfers.filter(transfer => transfer.state === 'under-way')
  const ended = transfers.filter(transfer => transfer.state !== 'under-way').slice(0, 10)
  return [
    inbox.length === 0 ? 'inbox: empty' : `inbox (${inbox.length}):`,
    ...inbox.map(entry => `  ${entry.name}  ${formatBytes(entry.size)}  from ${entry.from}  ${entry.receivedAt}${entry.purpose === '' ? '' : `  for ${entry.purpose}`}`),
    underWay.length === 0 ? 'no transfers under way' : 'under way:',
    ...underWay.map(transfer => `  ${transfer.id}  ${transfer.direction === 'send' ? 'to' : 'from'} ${transfer.peer}  ${progressLine(transfer, false)}`),
    ...(ended.length === 0 ? [] : ['recent:', ...ended.map(transfer => `  ${transfer.id}  ${transfer.direction === 'send' ? 'to' : 'from'} ${transfer.peer}  ${transfer.name}  ${transfer.state}${transfer.reason === undefined ? '' : `: ${transfer.reason}`}`)])
  ].join('\n')
}

/** Follows a transfer until it ends, drawing its progress; resolves with its last state. */
async function follow (home: string | undefined, id: string): Promise<TransferState> {
  const tty = process.stdout.isTTY
  let lastPlain = 0
  for (;;) {
    const { transfers } = await ask(home, '/files') as FilesListing
    const transfer = transfers.find(candidate => candidate.id === id)
    if (transfer === undefined) throw new UserError(`the node no longer knows transfer ${id}; \`mycroft-mesh files\` lists what it knows`)
    if (transfer.state !== 'under-way') {
      if (tty) process.stdout.write('\r\x1b[K')
      return transfer
    }
    if (tty) {
      process.stdout.write(`\r\x1b[K${progressLine(transfer, true)}`)
    } else if (Date.now() - lastPlain >= PLAIN_LINE_MS) {
      lastPlain = Date.now()
      print(progressLine(transfer, false))
    }
    await new Promise(resolve => setTimeout(resolve, POLL_MS))
  }
}

/** `send-file`, `files`, `files cancel`: files between this node and the nodes linked to it. */
export function addFileCommands (program: Command, homeOption: () => Option): void {
  program.command('send-file')
    .description('send a file to a linked node (the parent, or a child by name): verified on arrival, resumed if the link breaks')
    .addOption(homeOption())
    .requiredOption('--to <node>', 'the node to send it to: `parent`, or a linked child\'s name or peer id')
    .argument('<file>', 'the file to send')
    .action(async (file: string, flags: { home?: string, to: string }) => {
      const { id, to } = await ask(flags.home, '/files/send', { to: flags.to, path: resolve(file) }) as { id: string, to: string }
      const transfer = await follow(flags.home, id)
      if (transfer.state !== 'done') throw new UserError(`${file} did not reach ${to}: ${transfer.reason ?? transfer.state}`)
      print(`sent ${transfer.name} (${formatBytes(transfer.size)}) to ${to}; it lies at ${transfer.path ?? '?'} there`)
    })

  const files = program.command('files')
    .description('list the files this node received and the transfers under way')
    .addOption(homeOption())
    .option('--json', 'print JSON instead of text')
    .action(async (flags: { home?: string, json?: boolean }) => {
      const listing = await ask(flags.home, '/files') as FilesListing
      print(flags.json === true ? JSON.stringify(listing, null, 2) : formatListing(listing))
    })

  files.command('cancel')
    .description('stop a transfer under way (its id is in `mycroft-mesh files`)')
    .addOption(homeOption())
    .argument('<id>', 'the transfer\'s id')
    // `files` takes --home too, and commander gives it the flag when it comes after `cancel`
    .action(async (id: string, flags: { home?: string }, command: Command) => {
      const parentFlags: { home?: string } = command.parent?.opts() ?? {}
      await ask(flags.home ?? parentFlags.home, '/files/cancel', { id })
      print(`cancelled ${id}`)
    })
}
