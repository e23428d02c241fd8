import { cpus, totalmem, release, platform } from 'node:os'
import { readFileSync } from 'node:fs'

/** The q-quantile (0..1) of some samples, by the nearest-rank method. */
export function quantile (samples: number[], q: number): number {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
}

export const round = (value: number, digits = 3): number => Number(value.toFixed(digits))

/** What the figures were measured on. */
export function describeMachine (): Record<string, unknown> {
  const cpu = cpus()
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  const libp2p = JSON.parse(readFileSync(new URL('../../node_modules/libp2p/package.json', import.meta.url), 'utf8')) as { version: string }
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memory_gib: round(totalmem() / 2 ** 30, 1),
    os: `${platform()} ${release()}`,
    node: process.version,
    libp2p: libp2p.version,
    mycroft_mesh: pkg.version
  }
}
