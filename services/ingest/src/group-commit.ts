import { DeadlineError, withDeadline } from '@platform/db'
import { createProgressMonitor, type ProgressMonitor } from '@platform/metrics'
import {
  type Context,
  context,
  endSpan,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  startSpan,
  tracingEnabled,
  withSpan,
} from '@platform/tracing'

/**
 * Group commit (docs/adr/0008-ingest-group-commit.md): requests that arrive while a batch is being collected or
 * committed share one transaction, so the cost of a commit (a WAL flush, ~1 ms or more) is paid once per batch
 * instead of once per request. A request is resolved only after its batch committed; nothing is ever answered
 * from an uncommitted batch.
 *
 * When a batch fails, its items are committed again one by one, so one bad item (or a deadlock, or a lost
 * connection) fails only the requests it belongs to.
 *
 * No batch holds its slot forever: a commit that has not settled within `commitTimeoutMs` fails its requests (a
 * transient 503: the provider retries, and a commit that lands late turns the retry into a replay) and frees the
 * slot. Once a slot stayed taken for good after a PostgreSQL restart, and batches then started only when full.
 */
export interface GroupCommitOptions<I, O> {
  /** Commits all items in one transaction and returns one result per item, in order. */
  commit(items: I[]): Promise<O[]>
  /** Largest batch. */
  maxBatch: number
  /** How long the first item of a batch waits for company when no batch is running. */
  maxWaitMs: number
  /** Batches committing at once (each holds one database connection). */
  maxInFlight: number
  /** Client-side deadline of one commit (the batch's, then each item's when it is retried alone). */
  commitTimeoutMs?: number
  /** Readiness fails when requests have waited this long with no batch settling. */
  stallAfterMs?: number
  onBatch?: (size: number, failed: boolean, seconds: number) => void
}

interface Pending<I, O> {
  item: I
  resolve(value: O): void
  reject(error: unknown): void
  /** Tracing on: the submitter's context (its request's span) and when it submitted. */
  trace?: { context: Context; at: number }
}

/**
 * Tracing on: each request's wait for its batch is a span in its own trace ("group commit", from submit to the
 * batch's outcome). The batch's one statement runs inside the first of them, the leader, and the others link to it:
 * one write for many traces (OpenTelemetry's rule for batches), and never inside whichever request's context happened
 * to start the batch.
 */
function batchSpans<I, O>(batch: Pending<I, O>[]): Span[] | undefined {
  if (!tracingEnabled()) return undefined
  let leader: Span | undefined
  return batch.map((p) => {
    const span = startSpan(
      '@services/ingest',
      'group commit',
      {
        kind: SpanKind.INTERNAL,
        ...(p.trace ? { startTime: p.trace.at } : {}),
        ...(leader ? { links: [{ context: leader.spanContext() }] } : {}),
        attributes: { 'platform.group_commit.batch_size': batch.length },
      },
      p.trace?.context ?? ROOT_CONTEXT,
    )
    leader ??= span
    return span
  })
}

/** `work` inside the span, when there is one. */
const within = <T>(span: Span | undefined, work: () => Promise<T>): Promise<T> =>
  span ? withSpan(span, work, ROOT_CONTEXT) : work()

export interface GroupCommitter<I, O> {
  submit(item: I): Promise<O>
  /** Waits for every submitted item to settle (each within the commit deadlines). */
  flush(): Promise<void>
  /** For /health/ready: stalled when requests wait and no batch has settled for `stallAfterMs`. */
  progress: ProgressMonitor
}

export const DEFAULT_COMMIT_TIMEOUT_MS = 5000

export function createGroupCommitter<I, O>(options: GroupCommitOptions<I, O>): GroupCommitter<I, O> {
  const commitTimeoutMs = options.commitTimeoutMs ?? DEFAULT_COMMIT_TIMEOUT_MS
  const progress = createProgressMonitor('group commit', options.stallAfterMs ?? 20_000)
  let queue: Pending<I, O>[] = []
  let inFlight = 0
  let inFlightItems = 0
  let timer: NodeJS.Timeout | undefined
  const settled = new Set<Promise<void>>()
  const commit = (items: I[]) => withDeadline(options.commit(items), commitTimeoutMs, `a commit of ${items.length}`)
  const pending = () => progress.setPending(queue.length + inFlightItems)

  /**
   * Starts a batch when it is full, when a batch has just finished (whatever piled up meanwhile goes at once), or
   * `maxWaitMs` after the first waiting item arrived, whenever a slot is free, whatever else is in flight.
   */
  function schedule(afterBatch = false): void {
    if (queue.length === 0 || inFlight >= options.maxInFlight) return
    if (queue.length >= options.maxBatch || afterBatch) run()
    else timer ??= setTimeout(run, options.maxWaitMs)
  }

  function run(): void {
    if (timer) clearTimeout(timer)
    timer = undefined
    if (queue.length === 0 || inFlight >= options.maxInFlight) return
    const batch = queue.slice(0, options.maxBatch)
    queue = queue.slice(batch.length)
    inFlight++
    inFlightItems += batch.length
    const task = commitBatch(batch).finally(() => {
      inFlight--
      settled.delete(task)
      schedule(true)
    })
    settled.add(task)
    schedule()
  }

  /** Before the batch's callers hear of it, so that what they see next (readiness, say) already counts it. */
  function batchSettled(batch: Pending<I, O>[], failed: boolean, seconds: number, progressed = true): void {
    inFlightItems -= batch.length
    // A commit past its deadline is no progress: readiness must see a database that stopped answering.
    if (progressed) progress.progressed()
    pending()
    options.onBatch?.(batch.length, failed, seconds)
  }

  async function commitBatch(batch: Pending<I, O>[]): Promise<void> {
    const started = performance.now()
    const seconds = () => (performance.now() - started) / 1000
    const spans = batchSpans(batch)
    const resolve = (i: number, p: Pending<I, O>, value: O) => {
      spans?.[i]?.end()
      p.resolve(value)
    }
    const reject = (i: number, p: Pending<I, O>, error: unknown) => {
      if (spans?.[i]) endSpan(spans[i], error)
      p.reject(error)
    }
    try {
      const results = await within(spans?.[0], () => commit(batch.map((p) => p.item)))
      batchSettled(batch, false, seconds())
      for (const [i, p] of batch.entries()) resolve(i, p, results[i] as O)
    } catch (error) {
      batchSettled(batch, true, seconds(), !(error instanceof DeadlineError))
      // A batch past its deadline is not retried item by item: the database did not answer, and would not for each.
      if (batch.length === 1 || error instanceof DeadlineError) {
        for (const [i, p] of batch.entries()) reject(i, p, error)
        return
      }
      // Isolate the failure: each item alone, so only the ones that fail on their own are rejected.
      await Promise.all(
        batch.map(async (p, i) => {
          try {
            const [result] = await within(spans?.[i], () => commit([p.item]))
            resolve(i, p, result as O)
          } catch (single) {
            reject(i, p, single)
          }
        }),
      )
    }
  }

  return {
    progress,
    submit(item) {
      return new Promise<O>((resolve, reject) => {
        queue.push(
          tracingEnabled()
            ? { item, resolve, reject, trace: { context: context.active(), at: Date.now() } }
            : { item, resolve, reject },
        )
        pending()
        schedule()
      })
    },
    async flush() {
      while (queue.length > 0 || settled.size > 0) {
        run()
        await Promise.allSettled([...settled])
      }
    },
  }
}
