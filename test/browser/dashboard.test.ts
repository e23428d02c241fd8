import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumOrInstall } from '../../support/chromium.ts'
import { NodeProcess, runCli } from '../../support/node-process.ts'
import { freePort } from '../../support/ports.ts'
import { Rooms } from '../helpers/rooms.ts'

/**
 * The live page in a real browser (Debian's Chromium, headless, driven by playwright-core): a tree of real nodes
 * drawn with their states, a question asked while the page is open appears on it, a child killed turns offline,
 * the page comes back after its node restarts, and without its token there is no page. Screenshots go to
 * test-artifacts/.
 */

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))
const QUESTION = 'how far is the moon'
const ANSWER = 'About 384,000 kilometres.'

const rooms = new Rooms()
const restarted: NodeProcess[] = []
let browser: Browser | undefined

beforeAll(async () => {
  const executablePath = chromiumOrInstall()
  if (executablePath !== undefined) browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] })
  await mkdir(ARTIFACTS, { recursive: true })
}, 15 * 60_000)

afterAll(async () => {
  await browser?.close()
  await Promise.all(restarted.map(async node => node.kill()))
  await rooms.cleanup()
})

describe('the live page', () => {
  it('draws the tree, shows a question as it is asked, turns a killed child offline, and needs its token', async ({ skip }) => {
    if (browser === undefined) {
      skip()
      return
    }
    const brain = await rooms.room('brain', { assistant: { answers: { [QUESTION]: ANSWER } } })
    const hub = await rooms.room('hub', { parent: brain, config: { dashboard: `127.0.0.1:${await freePort()}` } })
    const kitchen = await rooms.room('kitchen', { parent: hub, assistant: { fallbackUnknown: true } })
    const printed = await runCli(['dashboard', '--home', hub.node.home])
    expect(printed.code, printed.stderr).toBe(0)
    const url = printed.stdout.trim()
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{32}$/)

    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } })
    await page.goto(url)
    await page.waitForSelector('.node[data-name="kitchen"][data-state="linked"]', { timeout: 15_000 })
    await page.waitForSelector('.node[data-name="brain"][data-state="linked"]')
    expect(await page.textContent('#connection')).toBe('live')

    kitchen.bus.say(QUESTION)
    await page.locator('#asks', { hasText: QUESTION }).waitFor({ timeout: 15_000 })
    const row = await page.textContent('#asks')
    expect(row).toContain('kitchen')
    expect(row).toContain('answered by brain')
    await page.screenshot({ path: `${ARTIFACTS}dashboard-tree.png`, fullPage: true })

    await kitchen.node.kill()
    await page.waitForSelector('.node[data-name="kitchen"][data-state="offline"]', { timeout: 30_000 })
    await page.screenshot({ path: `${ARTIFACTS}dashboard-offline.png`, fullPage: true })

    const wrong = await page.request.get(url.replace(/token=.*/, 'token=not-the-token'))
    expect(wrong.status()).toBe(403)
    expect(await wrong.text()).toContain('needs its token')
    expect((await page.request.get(url.replace(/\?token=.*/, ''))).status()).toBe(403)
  }, 120_000)

  it('comes back by itself after its node restarts', async ({ skip }) => {
    if (browser === undefined) {
      skip()
      return
    }
    const port = await freePort()
    const hall = await rooms.room('hall', { config: { dashboard: `127.0.0.1:${port}` } })
    const url = (await runCli(['dashboard', '--home', hall.node.home])).stdout.trim()
    const page = await browser.newPage()
    await page.goto(url)
    await page.locator('#connection', { hasText: /^live$/ }).waitFor()
    await hall.node.stop()
    await page.locator('#connection', { hasText: 'reconnecting' }).waitFor({ timeout: 15_000 })
    const again = new NodeProcess({ home: hall.node.home, name: 'hall', bus: 'none' })
    restarted.push(again)
    await again.start()
    await page.locator('#connection', { hasText: /^live$/ }).waitFor({ timeout: 15_000 })
  }, 60_000)
})
