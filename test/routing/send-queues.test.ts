/**
 * The kernel's socket table as the heartbeat reads it. A copy of /proc/net/tcp is a test double for the kernel's
 * own, so that a queue that waits can be written down; the real table is read in test/routing/heartbeat.test.ts,
 * where a pulled cable leaves a file's bytes unacknowledged.
 */
import { createServer, connect, type Socket } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { SendQueues, wireKeyOf } from '../../src/routing/link/send-queues.ts'
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
    expect([...new SendQueues([path, '/no/such/table']).waiting()]).toEqual(['1F90>D431'])
  })

  it('names a real connection the way the table does', async () => {
    const server = createServer()
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const client: Socket = connect((server.address() as { port: number }).port, '127.0.0.1')
    await new Promise(resolve => client.once('connect', resolve))
    try {
      const key = wireKeyOf({ maConn: { socket: client } } as unknown as Connection)
      const hex = (port: number | undefined): string => (port ?? 0).toString(16).toUpperCase().padStart(4, '0')
      expect(key).toBe(`${hex(client.localPort)}>${hex(client.remotePort)}`)
      expect(wireKeyOf({} as unknown as Connection)).toBeUndefined()
    } finally {
      client.destroy()
      server.close()
    }
  })
})
