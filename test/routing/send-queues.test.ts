/**
 * The kernel's socket table as the heartbeat reads it. A copy of /proc/net/tcp is a test double for the kernel's
 * own, so that a queue that waits can be written down; the real table is read in test/routing/heartbeat.test.ts,
 * where a pulled cable leaves a file's bytes unacknowledged.
 */
import { createServer, connect, type Socket } from 'node:net'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { hidesItsSocket, SendQueues, wireOf, type Wire } from '../../src/routing/link/send-queues.ts'
import { linkPeer } from '../../support/link-peer.ts'
import type { Connection } from '@libp2p/interface'

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode'
const row = (local: string, remote: string, state: string, queues: string): string =>
  `   0: ${local} ${remote} ${state} ${queues} 01:00000014 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1`

describe('send queues', () => {
  const dirs: string[] = []
  afterAll(async () => { await Promise.all(dirs.map(async dir => rm(dir, { recursive: true, force: true }))) })

  async function table (...rows: string[]): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'mm-sockets-'))
    dirs.push(dir)
    const path = join(dir, 'tcp')
    await writeFile(path, [HEADER, ...rows, ''].join('\n'))
    return path
  }

  it('names the established connections whose sent bytes wait for an acknowledgement, and no others', async () => {
    const path = await table(
      row('0100007F:1F90', '0100007F:D431', '01', '000000F8:00000000'), // 248 bytes unacknowledged: waits
      row('0100007F:1F90', '0100007F:D432', '01', '00000000:00000A00'), // only unread bytes received: does not
      row('0100007F:1F90', '00000000:0000', '0A', '00000000:00000000'), // the listening socket
      row('0100007F:1F91', '0100007F:D433', '08', '00000010:00000000') // closing, not a link's
    )
    expect([...await new SendQueues([path, '/no/such/table']).waiting()]).toEqual(['1F90>D431'])
  })

  it('reads the table only for sockets that wrote since it last showed them clean, at most once an interval', async () => {
    const path = await table(row('0100007F:1F90', '0100007F:D431', '01', '000000F8:00000000'))
    const reads: number[] = []
    class CountedQueues extends SendQueues {
      override async waiting (): Promise<Set<string>> {
        reads.push(Date.now())
        return super.waiting()
      }
    }
    const queues = new CountedQueues([path])
    const socket = { bytesWritten: 0, localPort: 0x1f90, remotePort: 0xd431 }
    const quiet = { bytesWritten: 0, localPort: 0x1f90, remotePort: 0xd432 }
    const waits = wireOf({ maConn: { socket } } as unknown as Connection) as Wire
    const idle = wireOf({ maConn: { socket: quiet } } as unknown as Connection) as Wire
    queues.watch(waits)
    queues.watch(idle)

    await queues.look(10_000, 5_000)
    expect(reads).toHaveLength(0)

    socket.bytesWritten = 248
    await queues.look(12_000, 5_000)
    expect(reads).toHaveLength(0)
    await queues.look(15_000, 5_000)
    expect(reads).toHaveLength(1)
    // once may be an acknowledgement the peer delays: not yet a queue that waits
    expect(waits.seenWaitingAt).toBeUndefined()
    expect(waits).toMatchObject({ waitingSince: 10_000, cleanAtBytes: 0 })
    await queues.look(20_000, 5_000)
    expect(reads).toHaveLength(2)
    expect(waits).toMatchObject({ seenWaitingAt: 20_000, waitingSince: 10_000, cleanAtBytes: 0 })
    expect(idle.seenWaitingAt).toBeUndefined()

    await writeFile(path, [HEADER, row('0100007F:1F90', '0100007F:D431', '01', '00000000:00000000'), ''].join('\n'))
    await queues.look(25_000, 5_000)
    expect(waits).toMatchObject({ seenWaitingAt: undefined, waitingSince: undefined, cleanAtBytes: 248 })
    await queues.look(30_000, 5_000)
    expect(reads).toHaveLength(3)
  })

  it('names a real connection the way the kernel\'s table does', async () => {
    const server = createServer()
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const client: Socket = connect((server.address() as { port: number }).port, '127.0.0.1')
    await new Promise(resolve => client.once('connect', resolve))
    try {
      const wire = wireOf({ maConn: { socket: client } } as unknown as Connection) as Wire
      const [local, remote] = wire.key.split('>')
      const kernel = await readFile('/proc/net/tcp', 'latin1')
      expect(kernel).toMatch(new RegExp(`[0-9A-F]{8}:${local} [0-9A-F]{8}:${remote} 01 `))
      expect(wireOf({} as unknown as Connection)).toBeUndefined()
    } finally {
      client.destroy()
      server.close()
    }
  })

  it('finds the socket under a real libp2p TCP connection, where a transport that hid it would be said to', async () => {
    const [server, client] = await Promise.all([linkPeer('server', ['/ip4/127.0.0.1/tcp/0']), linkPeer('client')])
    try {
      const connection = await client.dial(server.getMultiaddrs()[0] ?? multiaddr())
      expect(wireOf(connection)).toBeDefined()
      expect(hidesItsSocket(connection)).toBe(false)
      // stand-ins for connections of other versions and transports
      expect(hidesItsSocket({ remoteAddr: connection.remoteAddr, maConn: {} } as unknown as Connection)).toBe(true)
      expect(hidesItsSocket({ remoteAddr: multiaddr(`${connection.remoteAddr.toString()}/p2p-circuit`) } as unknown as Connection)).toBe(false)
      expect(hidesItsSocket({ remoteAddr: multiaddr('/ip4/127.0.0.1/udp/4001/quic-v1') } as unknown as Connection)).toBe(false)
    } finally {
      await Promise.all([client.stop(), server.stop()])
    }
  })
})
