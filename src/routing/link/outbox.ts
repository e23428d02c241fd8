import { Uint8ArrayList } from 'uint8arraylist'
import { TokenBucket } from '../../common/index.ts'
import { DRAIN_TIMEOUT_MS } from './constants.ts'
import { LinkClosedError } from './errors.ts'
import type { Stream } from '@libp2p/interface'

/** Below this, a buffer is copied in with its neighbours rather than sent as a buffer of its own. */
const PACK_BELOW_BYTES = 16 * 1024

/** Small buffers joined, large ones (attachments) left as they are: few buffers for the muxer to walk. */
function packFrames (frames: Array<Uint8Array | Uint8ArrayList>): Uint8Array | Uint8ArrayList {
  const packed: Uint8Array[] = []
  let run: Uint8Array[] = []
  const endRun = (): void => {
    if (run.length > 0) packed.push(run.length === 1 ? run[0] as Uint8Array : Buffer.concat(run))
    run = []
  }
  for (const frame of frames) {
    for (const buf of frame instanceof Uint8Array ? [frame] : frame) {
      if (buf.byteLength < PACK_BELOW_BYTES) {
        run.push(buf)
      } else {
        endRun()
        packed.push(buf)
      }
    }
  }
  endRun()
  return packed.length === 1 ? packed[0] as Uint8Array : new Uint8ArrayList(...packed)
}

interface Batch {
  frames: Array<Uint8Array | Uint8ArrayList>
  /** settles once the muxer has taken them */
  taken: PromiseWithResolvers<void>
}

export interface OutboxInit {
  stream: Stream
  /** the muxer would not take a batch and the other side read nothing for DRAIN_TIMEOUT_MS */
  onStalled: () => void
  /** why the stream no longer takes frames */
  closedReason: () => string
}

interface Held {
  frame: Uint8Array | Uint8ArrayList
  taken: PromiseWithResolvers<void>
}

/**
 * Hands what one tick sends to the muxer in one send: each `stream.send` costs the muxer a frame, a Noise
 * message and a wake-up of the far end, so a parent answering many children at once sends one batch per tick.
 */
export class Outbox {
  private readonly init: OutboxInit
  private batch?: Batch
  private pacer?: TokenBucket
  /** frames waiting for the pace, oldest first */
  private readonly held: Held[] = []
  private releaseTimer?: ReturnType<typeof setTimeout>

  constructor (init: OutboxInit) {
    this.init = init
  }

  /**
   * Sends at most `framesPerSecond` frames a second from now on (the limit the other side stated), holding the
   * rest in order; undefined sends at once. Bursts stay within one second's worth, half what the other side takes.
   */
  pace (framesPerSecond: number | undefined): void {
    if (framesPerSecond === undefined || framesPerSecond <= 0) {
      this.pacer = undefined
      this.release(true)
    } else if (this.pacer === undefined) {
      this.pacer = new TokenBucket(framesPerSecond)
    } else {
      this.pacer.reset(framesPerSecond)
    }
  }

  /** Queues a frame for the end of the tick (or for its turn, when paced); resolves once the muxer has taken it. */
  enqueue (frame: Uint8Array | Uint8ArrayList): Promise<void> {
    if (this.pacer !== undefined && (this.held.length > 0 || !this.pacer.take())) {
      const taken = Promise.withResolvers<void>()
      taken.promise.catch(() => {})
      this.held.push({ frame, taken })
      this.scheduleRelease()
      return taken.promise
    }
    return this.batchUp(frame)
  }

  private scheduleRelease (): void {
    if (this.releaseTimer !== undefined || this.pacer === undefined) return
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = undefined
      this.release(false)
    }, Math.max(1, this.pacer.waitMs()))
  }

  /** Sends the held frames whose turn has come (all of them, when `all`). */
  private release (all: boolean): void {
    while (this.held.length > 0 && (all || this.pacer?.take() !== false)) {
      const held = this.held.shift() as Held
      this.batchUp(held.frame).then(held.taken.resolve, held.taken.reject)
    }
    if (this.held.length > 0) this.scheduleRelease()
  }

  private batchUp (frame: Uint8Array | Uint8ArrayList): Promise<void> {
    if (this.batch === undefined) {
      const batch: Batch = { frames: [], taken: Promise.withResolvers() }
      // senders that do not wait for the muxer still must not leave a rejection unhandled
      batch.taken.promise.catch(() => {})
      this.batch = batch
      process.nextTick(() => { this.sendBatch() })
    }
    this.batch.frames.push(frame)
    return this.batch.taken.promise
  }

  /** Hands what waits to the muxer now, paced or not (before a close, say). */
  flush (): void {
    clearTimeout(this.releaseTimer)
    this.releaseTimer = undefined
    this.release(true)
    this.sendBatch()
  }

  private sendBatch (): void {
    const batch = this.batch
    if (batch === undefined) return
    this.batch = undefined
    const { stream } = this.init
    let accepted: boolean
    try {
      accepted = stream.send(packFrames(batch.frames))
    } catch {
      batch.taken.reject(new LinkClosedError(this.init.closedReason()))
      return
    }
    if (accepted) {
      batch.taken.resolve()
      return
    }
    stream.onDrain({ signal: AbortSignal.timeout(DRAIN_TIMEOUT_MS) }).then(() => { batch.taken.resolve() }, () => {
      this.init.onStalled()
      batch.taken.reject(new LinkClosedError(this.init.closedReason()))
    })
  }
}
