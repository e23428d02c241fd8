import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import * as z from 'zod'
import { errorMessage } from '../common/index.ts'
import { FETCH_IDLE_TIMEOUT_MS, MAX_REQUEST_BYTES, SERVED_PATH, SKILLS_PROTOCOL } from './constants.ts'
import type { Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'

/** A served file travels in pieces of this size, each a length-prefixed frame. */
const PIECE_BYTES = 1024 * 1024
/** The largest file a node fetches from its parent: a skill bundle, never a film. */
const MAX_FETCH_BYTES = 512 * 1024 * 1024

const RequestSchema = z.object({ path: z.string().regex(SERVED_PATH) })
const ReplySchema = z.union([z.object({ length: z.number().int().min(0).max(MAX_FETCH_BYTES) }), z.object({ missing: z.literal(true) }), z.object({ refused: z.string().max(500) })])

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const deadline = (): AbortSignal => AbortSignal.timeout(FETCH_IDLE_TIMEOUT_MS)

/**
 * One `/mycroft-mesh/skills/1.0.0` stream to the parent for a whole update: a request (`{path}`), then its answer
 * — `{length}` and the file in pieces, `{missing}`, or `{refused}` — then the next request. Every read has a
 * deadline, so a parent that stalls mid-file is given up on.
 */
export class ParentFiles {
  private readonly stream: Stream
  private readonly lp
  private queue: Promise<unknown> = Promise.resolve()

  private constructor (stream: Stream) {
    this.stream = stream
    this.lp = lpStream(stream, { maxDataLength: PIECE_BYTES })
  }

  static async open (connectionManager: ConnectionManager, parentPeerId: string): Promise<ParentFiles> {
    const connection = await connectionManager.openConnection(peerIdFromString(parentPeerId), { signal: deadline() })
    return new ParentFiles(await connection.newStream(SKILLS_PROTOCOL, { signal: deadline() }))
  }

  /** One file's bytes, or undefined when the parent does not have it; requests go one after another. */
  async fetch (path: string): Promise<Uint8Array | undefined> {
    const next = this.queue.then(async () => this.request(path))
    this.queue = next.catch(() => {})
    return next
  }

  async close (): Promise<void> {
    await this.queue
    await this.stream.close().catch(() => { this.stream.abort(new Error('could not close the skills stream')) })
  }

  private async request (path: string): Promise<Uint8Array | undefined> {
    try {
      await this.lp.write(encoder.encode(JSON.stringify({ path })), { signal: deadline() })
      const reply = ReplySchema.parse(JSON.parse(decoder.decode((await this.lp.read({ signal: deadline() })).subarray())))
      if ('refused' in reply) throw new Error(`the parent refused: ${reply.refused}`)
      if ('missing' in reply) return undefined
      const bytes = new Uint8Array(reply.length)
      for (let offset = 0; offset < reply.length;) {
        const piece = (await this.lp.read({ signal: deadline() })).subarray()
        if (offset + piece.byteLength > reply.length) throw new Error(`the parent sent more of ${path} than the ${reply.length} bytes it said`)
        bytes.set(piece, offset)
        offset += piece.byteLength
      }
      return bytes
    } catch (err) {
      this.stream.abort(err instanceof Error ? err : new Error(errorMessage(err)))
      throw err
    }
  }
}

/**
 * Answers a child's requests on one stream until it closes it: `refusal` says why this peer is not served (it is
 * asked once), `read` gives a served file's bytes.
 */
export async function serveFiles (stream: Stream, refusal: string | undefined, read: (path: string) => Promise<Uint8Array | undefined>): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
  const reply = async (body: unknown): Promise<void> => { await lp.write(encoder.encode(JSON.stringify(body))) }
  try {
    for (;;) {
      const frame = await lp.read({ signal: deadline() }).catch(() => undefined)
      if (frame === undefined) break
      let request
      try {
        request = RequestSchema.safeParse(JSON.parse(decoder.decode(frame.subarray())))
      } catch {
        request = undefined
      }
      if (refusal !== undefined) {
        await reply({ refused: refusal })
        break
      }
      if (request?.success !== true) {
        await reply({ refused: 'not a path this node serves' })
        break
      }
      const bytes = await read(request.data.path)
      if (bytes === undefined) {
        await reply({ missing: true })
        continue
      }
      await reply({ length: bytes.byteLength })
      for (let offset = 0; offset < bytes.byteLength; offset += PIECE_BYTES) await lp.write(bytes.subarray(offset, offset + PIECE_BYTES))
    }
    await stream.close()
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(errorMessage(err)))
  }
}
