// The far end of the link throughput bench, in its own process: a link parent that counts the attached bytes of
// `blob` envelopes and answers a `blob-end` request once it has had them all. Prints its address on stdout.
import { linkPeer } from '../../test/helpers/link-peer.ts'

const node = await linkPeer('sink', ['/ip4/127.0.0.1/tcp/0'])
let received = 0
node.services.link.handleKind('blob', envelope => { received += envelope.attachment?.byteLength ?? 0 })
node.services.link.handleKind('blob-end', async (envelope, session) => {
  await session.reply(envelope, 'blob-received', { bytes: received })
  received = 0
})
process.stdout.write(`${node.getMultiaddrs()[0]?.toString() ?? ''}\n`)
process.on('SIGTERM', () => { process.exit(0) })
