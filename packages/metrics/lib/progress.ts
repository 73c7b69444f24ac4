/**
 * A watchdog for work that must keep moving: a group committer, an outbox relay, a consumer. The owner says how
 * much work waits (`setPending`) and when some of it settled (`progressed`); `check()` throws a StalledError when
 * work has waited longer than `stallAfterMs` without any settling. /health/ready runs `check()`, so an instance
 * whose committer (or relay, or consumer) hangs stops getting traffic and says why, instead of answering 200 while
 * its requests wait (issue 16: after a PostgreSQL restart ingest was "ready" for 30 minutes of stalled commits).
 *
 * Idle is not stalled: the clock starts when work begins to wait, and each settlement restarts it.
 */
export class StalledError extends Error {
  readonly code = 'STALLED'
  constructor(message: string) {
    super(message)
    this.name = 'StalledError'
  }
}

export interface ProgressMonitor {
  /** How many units of work wait or are in hand right now. */
  setPending(n: number): void
  /** Some work settled (succeeded or failed: either way the mechanism is not stuck). */
  progressed(): void
  /** Milliseconds since work began waiting without progress; 0 when nothing waits. */
  stalledForMs(): number
  /** Throws a StalledError naming `name`, how long and how much waits, once stalledForMs() exceeds the limit. */
  check(): void
}

export function createProgressMonitor(
  name: string,
  stallAfterMs: number,
  now: () => number = () => performance.now(),
): ProgressMonitor {
  let pending = 0
  let since = now()
  const monitor: ProgressMonitor = {
    setPending(n) {
      if (pending === 0 && n > 0) since = now()
      pending = n
    },
    progressed() {
      since = now()
    },
    stalledForMs: () => (pending > 0 ? Math.max(0, now() - since) : 0),
    check() {
      const ms = monitor.stalledForMs()
      if (ms > stallAfterMs) {
        throw new StalledError(`${name}: no progress for ${Math.round(ms / 1000)} s while ${pending} wait`)
      }
    },
  }
  return monitor
}
