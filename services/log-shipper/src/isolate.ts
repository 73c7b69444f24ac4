import { rowsRejected } from './errors.js'

export interface Isolated<I> {
  /** Items the sink refused on their own, with its reason. */
  rejected: { item: I; error: unknown }[]
  /** Insert calls made (1 when nothing was rejected). */
  inserts: number
}

/**
 * Inserts `items`; when the sink rejects the data, splits the batch in halves and inserts each, recursively,
 * until the rejected items stand alone (bisection: about 2·k·log2(n) inserts for k bad rows among n). The good
 * rows all land. Any other error (sink unavailable) propagates at once, and the caller retries the whole batch:
 * halves that already landed are then written again, which the deduplicating reads absorb.
 */
export async function insertIsolating<I>(items: I[], insert: (items: I[]) => Promise<void>): Promise<Isolated<I>> {
  const result: Isolated<I> = { rejected: [], inserts: 0 }
  async function attempt(part: I[]): Promise<void> {
    if (part.length === 0) return
    result.inserts++
    try {
      await insert(part)
    } catch (error) {
      if (!rowsRejected(error)) throw error
      if (part.length === 1) {
        result.rejected.push({ item: part[0] as I, error })
        return
      }
      const middle = Math.ceil(part.length / 2)
      await attempt(part.slice(0, middle))
      await attempt(part.slice(middle))
    }
  }
  await attempt(items)
  return result
}
