/**
 * Group commit (docs/adr/0008-ingest-group-commit.md): requests that arrive while a batch is being collected or
 * committed share one transaction, so the cost of a commit (a WAL flush, ~1 ms or more) is paid once per batch
 * instead of once per request. A request is resolved only after its batch committed; nothing is ever answered
 * from an uncommitted batch.
 *
 * When a batch fails, its items are committed again one by one, so one bad item (or a deadlock, or a lost
 * connection) fails only the requests it belongs to.
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
  onBatch?: (size: number, failed: boolean, seconds: number) => void
}

interface Pending<I, O> {
  item: I
  resolve(value: O): void
  reject(error: unknown): void
}

export interface GroupCommitter<I, O> {
  submit(item: I): Promise<O>
  /** Waits for every submitted item to settle. */
  flush(): Promise<void>
}

export function createGroupCommitter<I, O>(options: GroupCommitOptions<I, O>): GroupCommitter<I, O> {
  let queue: Pending<I, O>[] = []
  let inFlight = 0
  let timer: NodeJS.Timeout | undefined
  const settled = new Set<Promise<void>>()

  /**
   * Starts a batch when it is full, when the previous batch has just finished (whatever piled up meanwhile goes
   * at once), or `maxWaitMs` after an item arrived at an idle committer. While a batch commits, the next one fills.
   */
  function schedule(afterBatch = false): void {
    if (queue.length === 0 || inFlight >= options.maxInFlight) return
    if (queue.length >= options.maxBatch || (afterBatch && inFlight === 0)) run()
    else if (inFlight === 0) timer ??= setTimeout(run, options.maxWaitMs)
  }

  function run(): void {
    if (timer) clearTimeout(timer)
    timer = undefined
    if (queue.length === 0 || inFlight >= options.maxInFlight) return
    const batch = queue.slice(0, options.maxBatch)
    queue = queue.slice(batch.length)
    inFlight++
    const task = commitBatch(batch).finally(() => {
      inFlight--
      settled.delete(task)
      schedule(true)
    })
    settled.add(task)
    schedule()
  }

  async function commitBatch(batch: Pending<I, O>[]): Promise<void> {
    const started = performance.now()
    const seconds = () => (performance.now() - started) / 1000
    try {
      const results = await options.commit(batch.map((p) => p.item))
      options.onBatch?.(batch.length, false, seconds())
      for (const [i, p] of batch.entries()) p.resolve(results[i] as O)
    } catch (error) {
      options.onBatch?.(batch.length, true, seconds())
      if (batch.length === 1) {
        batch[0]?.reject(error)
        return
      }
      // Isolate the failure: each item alone, so only the ones that fail on their own are rejected.
      await Promise.all(
        batch.map(async (p) => {
          try {
            const [result] = await options.commit([p.item])
            p.resolve(result as O)
          } catch (single) {
            p.reject(single)
          }
        }),
      )
    }
  }

  return {
    submit(item) {
      return new Promise<O>((resolve, reject) => {
        queue.push({ item, resolve, reject })
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
