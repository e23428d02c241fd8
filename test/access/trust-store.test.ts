import { spawn } from 'node:child_process'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { TrustStore } from '../../src/access/index.ts'
import { UserError } from '../../src/common/index.ts'
import { Homes } from '../../support/node-process.ts'
import { waitFor } from '../../support/wait.ts'

const homes = new Homes()
afterEach(async () => { await homes.cleanup() })

async function freshStore (): Promise<TrustStore> {
  return TrustStore.open(join(await homes.make('mm-trust-'), 'trust.json'))
}

describe('the trust store', () => {
  it('spends an invite once: the peer becomes known under its name and role, kept across a reopen', async () => {
    const store = await freshStore()
    const { secret } = await store.createInvite('kitchen', 'child', 60_000)
    expect(await store.redeem(secret, 'peer-a')).toMatchObject({ ok: true, peer: { name: 'kitchen', role: 'child', peerId: 'peer-a' } })
    expect(await store.redeem(secret, 'peer-b')).toMatchObject({ ok: false, code: 'invite-used' })

    const reopened = await TrustStore.open(store.path)
    expect(reopened.peer('peer-a')).toMatchObject({ name: 'kitchen', permissions: { ask: true, pushSkills: false } })
    expect(reopened.invites()[0]?.usedBy).toBe('peer-a')
    expect(await readFile(store.path, 'utf8')).not.toContain(secret)
  })

  it('refuses an unknown secret, an expired invite and a name another peer holds', async () => {
    const store = await freshStore()
    expect(await store.redeem('x'.repeat(43), 'peer-a')).toMatchObject({ ok: false, code: 'invite-unknown' })
    const expired = await store.createInvite('pantry', 'child', 1)
    await waitFor('the invite to expire', () => Date.now() > Date.parse(expired.invite.expiresAt))
    expect(await store.redeem(expired.secret, 'peer-a')).toMatchObject({ ok: false, code: 'invite-expired' })

    const first = await store.createInvite('kitchen', 'child', 60_000)
    await store.redeem(first.secret, 'peer-a')
    const second = await store.createInvite('kitchen', 'child', 60_000)
    expect(await store.redeem(second.secret, 'peer-b')).toMatchObject({ ok: false, code: 'name-taken' })
  })

  it('lets exactly one of two simultaneous links spend the same invite', async () => {
    const store = await freshStore()
    const { secret } = await store.createInvite('kitchen', 'child', 60_000)
    const results = await Promise.all([store.redeem(secret, 'peer-a'), store.redeem(secret, 'peer-b')])
    expect(results.filter(result => result.ok)).toHaveLength(1)
  })

  it('says what to do with a damaged file, and leaves it as it is', async () => {
    const home = await homes.make('mm-trust-')
    const path = join(home, 'trust.json')
    await writeFile(path, '{"version": 1, "peers": [')
    await expect(TrustStore.open(path)).rejects.toThrow(UserError)
    await expect(TrustStore.open(path)).rejects.toThrow(/not valid JSON; restore it from a backup/)
    expect(await readFile(path, 'utf8')).toBe('{"version": 1, "peers": [')
  })

  it('survives kill -9 in the middle of a write: the file always holds a whole state, never less than was reported written', async () => {
    const path = join(await homes.make('mm-trust-'), 'trust.json')
    const writer = fileURLToPath(new URL('../fixtures/trust-writer.ts', import.meta.url))
    let reported = { invites: 0, peers: 0 }
    const counts = (text: string): Array<{ invites: number, peers: number }> => text.trim().split('\n').filter(line => line !== '')
      .map(line => { const [invites = 0, peers = 0] = line.split(' ').map(Number); return { invites, peers } })
    for (let round = 0; round < 8; round++) {
      const proc = spawn(process.execPath, [writer, path], { stdio: ['ignore', 'pipe', 'inherit'] })
      const exited = new Promise(resolve => proc.once('exit', resolve))
      let lines = ''
      proc.stdout.setEncoding('utf8').on('data', (chunk: string) => { lines += chunk })
      // kill after a varying number of writes, so the kill lands at different points of a write
      const target = reported.invites + 3 + (round * 7) % 11
      await waitFor('the writer to commit some writes', () => (counts(lines).at(-1)?.invites ?? 0) >= target, { timeoutMs: 20_000 })
      proc.kill('SIGKILL')
      await exited
      reported = counts(lines).at(-1) ?? reported

      // each write is whole; what is on disk is what was reported, or up to the two writes (an invite, a peer) done since
      const store = await TrustStore.open(path)
      expect(store.invites().length).toBeGreaterThanOrEqual(reported.invites)
      expect(store.peers().length).toBeGreaterThanOrEqual(reported.peers)
      expect(store.invites().length + store.peers().length).toBeLessThanOrEqual(reported.invites + reported.peers + 2)
      reported = { invites: store.invites().length, peers: store.peers().length }
    }
    // open() swept away the temp file a kill left behind
    expect((await readdir(join(path, '..'))).filter(name => name.endsWith('.tmp'))).toEqual([])
  })
})
