/**
 * Access by capability: the check a wire protocol runs when a stream of its own opens (such streams never pass
 * the link's guard), and the one the guard runs for each envelope, on a real trust store.
 */
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { AccessControl, applyPermission, TrustStore } from '../../src/access/index.ts'
import { FigureRegistry } from '../../src/observe/index.ts'
import { Homes } from '../../support/node-process.ts'

const homes = new Homes()
afterEach(async () => { await homes.cleanup() })

async function accessWith (peers: Array<[string, string, 'child' | 'friend']>): Promise<{ access: AccessControl, store: TrustStore, figures: FigureRegistry }> {
  const store = await TrustStore.open(join(await homes.make('mm-access-'), 'trust.json'))
  for (const [peerId, name, role] of peers) await store.remember(peerId, name, role)
  const figures = new FigureRegistry()
  return { access: new AccessControl({ store, log: pino({ level: 'silent' }), figures }), store, figures }
}

describe('authorize', () => {
  it('grants a child the questions its role allows, and refuses them once denied, saying what it may not do', async () => {
    const { access, store } = await accessWith([['kid', 'kitchen', 'child']])
    expect(access.authorize('kid', 'child', { permission: 'ask' })).toEqual({ ok: true })
    await store.setPermissions('kid', permissions => applyPermission(permissions, false, ['ask']))
    expect(access.authorize('kid', 'child', { permission: 'ask' })).toEqual({ ok: false, code: 'forbidden', message: 'you may not ask this node questions' })
  })

  it('refuses a friend what its role does not give, and a word no permission has', async () => {
    const { access } = await accessWith([['pal', 'jarbas', 'friend']])
    expect(access.authorize('pal', 'child', { permission: 'push-skills' })).toMatchObject({ ok: false, message: 'you may not push skills to this node' })
    expect(access.authorize('pal', 'child', { permission: 'constructor' })).toMatchObject({ ok: false, message: 'you may not use \'constructor\' on this node' })
    expect(access.authorize('pal', 'child', { busType: 'speak' })).toEqual({ ok: true })
    expect(access.authorize('pal', 'child', { busType: 'mycroft.volume.set' })).toMatchObject({ ok: false, code: 'forbidden' })
  })

  it('counts every refusal in the access figures that status shows', async () => {
    const { access, figures } = await accessWith([['pal', 'jarbas', 'friend']])
    for (let i = 0; i < 3; i++) access.authorize('pal', 'child', { permission: 'ask' })
    expect(figures.snapshot().access).toMatchObject({ violations: 3, cutOffs: 0, open: false, houseKey: false, cutOff: [] })
  })
})
