// The far end of the throughput benches, in its own process, printing its address on stdout. As a link parent
// it counts the attached bytes of `blob` envelopes and answers a `blob-end` request once it has had them all;
// on the bare stream protocol it counts bytes and answers one byte once it has had as many as the dialler said;
// on the echo protocol it sends back whatever it gets.
import { linkPeer, serveKind } from '../../support/link-peer.ts'
import { BARE_STREAM_PROTOCOL, ECHO_STREAM_PROTOCOL } from './link-throughput.ts'

const node = await linkPeer('sink', ['/ip4/127.0.0.1/tcp/0'])
let received = 0
serveKind(node.services.link, 'blob', envelope => { received += envelope.attachment?.byteLength ?? 0 })
serveKind(node.services.link, 'blob-end', (envelope, session) => {
  void session.reply(envelope, 'blob-received', { bytes: received })
  received = 0
})
await node.handle(BARE_STREAM_PROTOCOL, stream => {
  let expected = -1
  let got = 0
  stream.addEventListener('message', event => {
    const bytes = event.data.subarray()
    if (expected < 0) {
      expected = new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0)
      got -= 8
    }
    got += bytes.byteLength
    if (got >= expected) stream.send(new Uint8Array([1]))
  })
})
await node.handle(ECHO_STREAM_PROTOCOL, stream => {
  stream.addEventListener('message', event => { stream.send(event.data) })
})
process.stdout.write(`${node.getMultiaddrs()[0]?.toString() ?? ''}\n`)
process.on('SIGTERM', () => { process.exit(0) })
