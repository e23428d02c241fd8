/** Vitest's global setup: the tests run the node as users do, from the bundle, so it is built first when stale. */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export function setup (): void {
  const script = fileURLToPath(new URL('../scripts/build.ts', import.meta.url))
  const built = spawnSync(process.execPath, [script, '--if-stale'], { stdio: 'inherit' })
  if (built.status !== 0) throw new Error(`building dist/ failed (exit ${built.status ?? built.signal}): the tests need the bundle; run npm run build to see why`)
}
