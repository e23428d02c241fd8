import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser']

const found = (): string | undefined => CANDIDATES.find(path => existsSync(path))

/**
 * Debian's Chromium for the live page's browser tests: the one installed, or (as root, with apt-get) installed
 * now, saying so. Resolves with undefined after saying loudly why the browser tests cannot run.
 */
export function chromiumOrInstall (): string | undefined {
  const present = found()
  if (present !== undefined) return present
  const say = (text: string): void => { process.stderr.write(`${text}\n`) }
  if (process.getuid?.() !== 0 || spawnSync('apt-get', ['--version']).status !== 0) {
    say('SKIPPING the live page browser tests: no Chromium at /usr/bin/chromium, and this is not root with apt-get to install it (Debian: apt-get install chromium)')
    return undefined
  }
  say('installing Debian\'s chromium for the live page browser tests (once; it takes a few minutes) …')
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = (): number | null => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: ['ignore', 'inherit', 'inherit'], env }).status
  if (install() !== 0) {
    say('apt-get install chromium failed; refreshing the package lists and trying again …')
    spawnSync('apt-get', ['update'], { stdio: ['ignore', 'inherit', 'inherit'], env })
    install()
  }
  const installed = found()
  if (installed === undefined) say('SKIPPING the live page browser tests: apt-get could not install chromium (see above)')
  else say(`installed ${installed}`)
  return installed
}
