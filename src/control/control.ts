import type * as z from 'zod'
import { chmod, unlink } from 'node:fs/promises'
import { createServer, request, type Server } from 'node:http'
import { ExitCode, UserError } from '../common/index.ts'

/** Unix socket paths are limited to 107 bytes on Linux. */
const MAX_SOCKET_PATH = 107
const CONTROL_TIMEOUT_MS = 5_000

/** Handlers by `METHOD /path`; a POST handler gets the parsed JSON body. */
export type ControlRoutes = Record<string, (body: unknown) => unknown>

/** Thrown by a handler for a request that cannot be done; the CLI shows its message. */
export class ControlRefusal extends Error {
  readonly status: number

  constructor (message: string, status = 400) {
    super(message)
    this.name = 'ControlRefusal'
    this.status = status
  }
}

const MAX_CONTROL_BODY = 64 * 1024

/** A control request's body as `schema` says, or a refusal naming the field that is wrong. */
export function parseRequest<T> (schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body)
  if (!parsed.success) throw new ControlRefusal(`${parsed.error.issues[0]?.path.join('.') || 'request'}: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
  return parsed.data
}

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
export async function queryControl (socketPath: string, home: string, route: string, body?: unknown): Promise<unknown> {
  checkSocketPath(socketPath)
  return new Promise((resolve, reject) => {
    const method = body === undefined ? 'GET' : 'POST'
    const req = request({ socketPath, path: route, method, timeout: CONTROL_TIMEOUT_MS, headers: { 'content-type': 'application/json' } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        if (res.statusCode !== 200) {
          reject(new UserError(res.statusCode === 400 ? text : `the node answered ${res.statusCode ?? '?'} on ${route}: ${text}`))
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
    req.end(body === undefined ? undefined : JSON.stringify(body))
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
    const route = routes[`${req.method ?? ''} ${req.url ?? ''}`]
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`unknown control route ${req.method ?? ''} ${req.url ?? ''}`)
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_CONTROL_BODY) req.destroy()
      else chunks.push(chunk)
    })
    req.on('end', () => {
      Promise.resolve()
        .then(() => route(chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'))))
        .then(body => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)) })
        .catch((err: unknown) => {
          const status = err instanceof ControlRefusal ? err.status : err instanceof SyntaxError ? 400 : 500
          res.writeHead(status, { 'content-type': 'text/plain' }).end(err instanceof Error ? err.message : String(err))
        })
    })
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
