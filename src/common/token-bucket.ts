/** A token bucket: `rate` tokens a second on average, never more than `burst` at once. */
export class TokenBucket {
  private rate: number
  private burst: number
  private tokens: number
  private updatedAt = Date.now()

  constructor (rate: number, burst = rate) {
    this.rate = rate
    this.burst = burst
    this.tokens = burst
  }

  /** Takes one token if there is one. */
  take (): boolean {
    this.refill()
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  /** How long until the next token, in milliseconds (0 when one is there now). */
  waitMs (): number {
    this.refill()
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) * 1000 / this.rate)
  }

  /** A new rate (and burst); the tokens already there stay, up to the new burst. */
  reset (rate: number, burst = rate): void {
    this.refill()
    this.rate = rate
    this.burst = burst
    this.tokens = Math.min(this.tokens, burst)
  }

  private refill (): void {
    const now = Date.now()
    this.tokens = Math.min(this.burst, this.tokens + (now - this.updatedAt) * this.rate / 1000)
    this.updatedAt = now
  }
}
