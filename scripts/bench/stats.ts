import { cpus, totalmem, release, platform } from 'node:os'
import { readFileSync } from 'node:fs'

/** The q-quantile (0..1) of some samples, by the nearest-rank method. */
export function quantile (samples: number[], q: number): number {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
}

export const round = (value: number, digits = 3): number => Number(value.toFixed(digits))

/** Rounds of one figure: their median, and their spread as it is printed beside it ("11.9–13.0"). */
export interface Spread { median: number, min: number, max: number, text: string }

export function spread (values: number[], digits = 1): Spread {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  const median = sorted.length === 0
    ? Number.NaN
    : sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
  const min = sorted[0] ?? Number.NaN
  const max = sorted[sorted.length - 1] ?? Number.NaN
  return { median: round(median, digits), min, max, text: `${min.toFixed(digits)}–${max.toFixed(digits)}` }
}

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
