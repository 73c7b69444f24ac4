/**
 * Runs a bounded statement (a `delete ... limit n`, say) until one affects fewer than `batchSize` rows, and returns
 * how many rows all of them affected. Retention and cleanup jobs delete this way: many short statements, each its
 * own transaction, instead of one that locks and bloats for minutes. `run` returns its statement's row count.
 */
export async function repeatWhileFull(run: () => Promise<number>, batchSize: number): Promise<number> {
  let total = 0
  for (;;) {
    const count = await run()
    total += count
    if (count < batchSize) return total
  }
}
