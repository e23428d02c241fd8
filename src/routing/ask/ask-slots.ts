/** Questions that wait at most for a free slot toward the parent; one more is given back at once. */
export const MAX_WAITING_ASKS = 256

interface Waiting {
  deadlineAt: number
  take: (granted: boolean) => void
  timer: ReturnType<typeof setTimeout>
}

/**
 * The slots a node may fill with questions in flight to its parent, as many as the parent's limit says. A
 * question that finds none free waits, earliest deadline first; one whose deadline passes while it waits is
 * given back at once, never silently dropped.
 */
export class AskSlots {
  private readonly limit: () => number
  private inFlight = 0
  /** sorted by deadline, earliest first */
  private readonly waiting: Waiting[] = []

  constructor (limit: () => number) {
    this.limit = limit
  }

  get queued (): number {
    return this.waiting.length
  }

  /** Resolves true once this question holds a slot (free it with `release`); false when its deadline came first. */
  async acquire (deadlineAt: number): Promise<boolean> {
    if (this.waiting.length === 0 && this.inFlight < this.limit()) {
      this.inFlight++
      return true
    }
    if (this.waiting.length >= MAX_WAITING_ASKS || deadlineAt <= Date.now()) return false
    return new Promise(resolve => {
      const waiting: Waiting = {
        deadlineAt,
        take: resolve,
        timer: setTimeout(() => {
          const index = this.waiting.indexOf(waiting)
          if (index >= 0) this.waiting.splice(index, 1)
          resolve(false)
        }, deadlineAt - Date.now())
      }
      const at = this.waiting.findIndex(other => other.deadlineAt > deadlineAt)
      this.waiting.splice(at < 0 ? this.waiting.length : at, 0, waiting)
    })
  }

  /** A question got its answer (or gave up): its slot goes to the waiting question with the earliest deadline. */
  release (): void {
    this.inFlight = Math.max(0, this.inFlight - 1)
    while (this.waiting.length > 0 && this.inFlight < this.limit()) {
      const next = this.waiting.shift() as Waiting
      clearTimeout(next.timer)
      this.inFlight++
      next.take(true)
    }
  }
}
