import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'
import { Rooms } from '../helpers/rooms.ts'

/** The directory of a house under a brain, on real nodes over loopback: whole once, then only what changed. */

interface DirectoryFigures { reportsSent: number, roomsSent: number }
interface Listed { name: string, state: string, parent: string }

describe('the directory', () => {
  const rooms = new Rooms()
  afterAll(async () => { await rooms.cleanup() })

  it('a hub tells the brain above it its whole house once, then only what changed', async () => {
    const brain = await rooms.room('brain')
    const hall = await rooms.room('hall', { parent: brain, extraArgs: ['--hub'] })
    const kitchen = await rooms.room('kitchen', { parent: hall })
    await rooms.room('den', { parent: hall })
    const porch = await rooms.room('porch', { parent: hall })
    const listed = async (): Promise<Listed[]> => JSON.parse((await runCli(['rooms', '--home', brain.node.home, '--json'])).stdout) as Listed[]
    await waitFor('the brain to know the house', async () => (await listed()).length === 5)
    const figures = async (): Promise<DirectoryFigures> => (await hall.node.status()).directory as DirectoryFigures
    const settled = await figures()

    // one room goes away: one entry travels, not the house
    await porch.node.kill()
    await waitFor('the brain to list the porch offline', async () => (await listed()).some(room => room.name === 'porch' && room.state === 'offline'))
    const after = await figures()
    expect(after.reportsSent - settled.reportsSent).toBe(1)
    expect(after.roomsSent - settled.roomsSent).toBe(1)
    expect((await listed()).map(room => [room.name, room.state]).sort()).toEqual([['brain', 'linked'], ['den', 'linked'], ['hall', 'linked'], ['kitchen', 'linked'], ['porch', 'offline']])
    // a room below asks the top of its house, which is the hall
    const fromKitchen = JSON.parse((await runCli(['rooms', '--home', kitchen.node.home, '--json'])).stdout) as Listed[]
    expect(fromKitchen.map(room => room.name).sort()).toEqual(['den', 'hall', 'kitchen', 'porch'])
  })
})
