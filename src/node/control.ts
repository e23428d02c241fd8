import { chmod, unlink } from 'node:fs/promises'
import { createServer, request, type Server } from 'node:http'
import { ExitCode, UserError } from '../common/index.ts'

/** Unix socket paths are limited to 107 bytes on Linux. */
const MAX_SOCKET_PATH = 107
const CONTROL_TIMEOUT_MS = 5_000

export type ControlRoutes = Record<string, () => unknown>

export class NodeNotRunningError extends UserError {
  constructor (home: string) {
    super(`no node is running for home ${home}; start one with \`mycroft-mesh start --home ${home}\``, ExitCode.notRunning)
    this.name = 'NodeNotRunningError'
  }
}

function checkSocketPath (socketPath: string): void {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new UserError(`the home path is too long for its control socket (${socketPath}); use a home with a shorter path`)
  }
}

/** Asks the node that owns `socketPath`; rejects with NodeNotRunningError when nobody listens there. */
export async function queryControl (socketPath: string, home: string, route: string): Promise<unknown> {
  checkSocketPath(socketPath)
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: route, method: 'GET', timeout: CONTROL_TIMEOUT_MS }, res => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        if (res.statusCode !== 200) {
          reject(new UserError(`the node answered ${res.statusCode ?? '?'} on ${route}: ${text}`))
          return
        }
        try {
          resolve(JSON.parse(text))
        } catch {
          reject(new UserError(`the node's answer on ${route} is not JSON`))
        }
      })
    })
    req.on('timeout', () => { req.destroy(new UserError(`the node for home ${home} did not answer within ${CONTROL_TIMEOUT_MS / 1000} s`)) })
    req.on('error', err => {
      const code = (err as NodeJS.ErrnoException).code
      reject(code === 'ENOENT' || code === 'ECONNREFUSED' ? new NodeNotRunningError(home) : err)
    })
    req.end()
  })
}

/**
 * The node's local control endpoint: HTTP over a unix socket in its home, mode 0600, so only the
 * node's owner can reach it. Refuses to start when another node already answers on that socket.
 */
export async function startControlServer (socketPath: string, home: string, routes: ControlRoutes): Promise<Server> {
  checkSocketPath(socketPath)
  try {
    await queryControl(socketPath, home, '/status')
    throw new UserError(`a node is already running for home ${home}; stop it first, or give this one another --home`)
  } catch (err) {
    if (!(err instanceof NodeNotRunningError)) throw err
  }
  await unlink(socketPath).catch(() => {})

  const server = createServer((req, res) => {
    const route = routes[req.url ?? '']
    if (req.method !== 'GET' || route === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`unknown control route ${req.method ?? ''} ${req.url ?? ''}`)
      return
    }
    Promise.resolve()
      .then(route)
      .then(body => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)) })
      .catch((err: unknown) => { res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err)) })
  })
  const previousMask = process.umask(0o177)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(socketPath, () => { server.off('error', reject); resolve() })
    })
  } finally {
    process.umask(previousMask)
  }
  await chmod(socketPath, 0o600)
  return server
}
