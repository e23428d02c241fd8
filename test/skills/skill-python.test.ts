/** The voice-command skill's own Python tests (its parsing needs no OVOS); skipped loudly without Python 3.10+. */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { pythonOrSkip } from '../../support/ovos.ts'

const python = pythonOrSkip()

describe.skipIf(python === null)('skills/ovos-skill-mycroft-mesh', () => {
  it('passes its unit tests', () => {
    const dir = fileURLToPath(new URL('../../skills/ovos-skill-mycroft-mesh', import.meta.url))
    const run = spawnSync(python ?? 'python3', ['-m', 'unittest', 'discover', '-s', 'test', '-v'], { cwd: dir, encoding: 'utf8' })
    expect(run.status, run.stderr).toBe(0)
    expect(run.stderr).toMatch(/Ran \d+ tests/)
  })
})
