import { setBounded } from '../common/index.ts'

/** Failed admissions a peer may have within the window before it has to wait; an address (shared by a house behind NAT) four times that. */
export const FREE_FAILURES = 5
const FREE_FAILURES_PER_ADDRESS = FREE_FAILURES * 4
export const FAILURE_WINDOW_MS = 60_000
const FIRST_WAIT_MS = 1_000
const LONGEST_WAIT_MS = 5 * 60_000
/** A peer that links more often than this within a minute is told to wait. */
export const MAX_LINKS_PER_MINUTE = 20
const MAX_TRACKED = 4096

interface Failures {
  at: number[]
  waits: number
  until: number
}


/**
 * Makes guessing invites and re-link loops expensive for the one doing it, and cheap for this node: after a few
 * failed admissions from one peer or one address, every hello is refused at once for a wait that doubles with each
 * further failure; a peer that links too often in a minute waits too.
 */
export class AdmissionThrottle {
  private readonly failures = new Map<string, Failures>()
  private readonly links = new Map<string, number[]>()

  /** How long this peer (or its address) must still wait before a hello is looked at; 0 when it need not. */
  waitMs (peerId: string, ip: string | undefined): number {
    const now = Date.now()
    const until = Math.max(this.failures.get(`peer:${peerId}`)?.until ?? 0, ip === undefined ? 0 : this.failures.get(`ip:${ip}`)?.until ?? 0)
    return Math.max(0, until - now)
  }

  /** A hello was refused (no invite, a wrong one, revoked …). */
  failed (peerId: string, ip: string | undefined): void {
    this.fail(`peer:${peerId}`, FREE_FAILURES)
    if (ip !== undefined) this.fail(`ip:${ip}`, FREE_FAILURES_PER_ADDRESS)
  }

  /** A peer was admitted; returns how long it must wait first when it links too often. */
  linked (peerId: string): number {
    const now = Date.now()
    const recent = (this.links.get(peerId) ?? []).filter(at => now - at < 60_000)
    recent.push(now)
    setBounded(this.links, peerId, recent, MAX_TRACKED)
    if (recent.length <= MAX_LINKS_PER_MINUTE) return 0
    return 60_000 - (now - (recent[recent.length - MAX_LINKS_PER_MINUTE - 1] ?? now))
  }

  private fail (key: string, free: number): void {
    const now = Date.now()
    const record = this.failures.get(key) ?? { at: [], waits: 0, until: 0 }
    record.at = record.at.filter(at => now - at < FAILURE_WINDOW_MS)
    if (record.at.length === 0 && record.until < now) record.waits = 0
    record.at.push(now)
    if (record.at.length >= free) {
      record.until = now + Math.min(LONGEST_WAIT_MS, FIRST_WAIT_MS * 2 ** record.waits)
      record.waits++
    }
    setBounded(this.failures, key, record, MAX_TRACKED)
  }
}
