import { mkdir } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/** Everything of one node lives in its home, so several nodes run side by side on one machine. */
export interface HomePaths {
  dir: string
  identity: string
  config: string
  trust: string
  /** messages kept for rooms that are away */
  mail: string
  /** files received (inbox) and arriving (partial) */
  files: string
  controlSocket: string
}

export function defaultHomeDir (env: NodeJS.ProcessEnv = process.env): string {
  if (env.MYCROFT_MESH_HOME !== undefined && env.MYCROFT_MESH_HOME !== '') return resolve(env.MYCROFT_MESH_HOME)
  const configRoot = env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(homedir(), '.config')
  return resolve(configRoot, 'mycroft-mesh')
}

export function homePaths (dir: string): HomePaths {
  const home = resolve(dir)
  return {
    dir: home,
    identity: join(home, 'identity.key'),
    config: join(home, 'config.json'),
    trust: join(home, 'trust.json'),
    mail: join(home, 'mail.json'),
    files: join(home, 'files'),
    controlSocket: join(home, 'control.sock')
  }
}

/** Creates the home if needed, readable by its owner only. */
export async function ensureHome (paths: HomePaths): Promise<void> {
  await mkdir(paths.dir, { recursive: true, mode: 0o700 })
}
