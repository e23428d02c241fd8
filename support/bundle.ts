/** Tests and benchmarks run the node as users do, from the bundle in dist/: it is built first when stale. */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export function ensureBundle (): void {
  const script = fileURLToPath(new URL('../scripts/build.ts', import.meta.url))
  const built = spawnSync(process.execPath, [script, '--if-stale'], { stdio: 'inherit' })
  if (built.status !== 0) throw new Error(`building dist/ failed (exit ${built.status ?? built.signal}): run npm run build to see why`)
}

/** Vitest's global setup (vitest.config.ts). */
export const setup = ensureBundle
