import { defaultHomeDir, homePaths, queryControl } from '../control/index.ts'

/** Asks the running node of a home through its control socket. */
export async function ask (home: string | undefined, route: string, body?: unknown): Promise<unknown> {
  const paths = homePaths(home ?? defaultHomeDir())
  return queryControl(paths.controlSocket, paths.dir, route, body)
}

export const print = (text: string): void => { process.stdout.write(`${text}\n`) }
