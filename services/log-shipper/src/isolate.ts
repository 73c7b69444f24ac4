import { rowsRejected } from './errors.js'

export interface Isolated<I> {
  /** Items the sink refused on their own, with its reason. */
  rejected: { item: I; error: unknown }[]
  /** Items the sink accepted: the batch's items, less the rejected ones and those split into their parts. */
  landed: I[]
  /** Insert calls made (1 when nothing was rejected). */
  inserts: number
}

/**
 * Inserts `items`; when the sink rejects the data, splits the batch in halves and inserts each, recursively,
 * until the rejected items stand alone (bisection: about 2·k·log2(n) inserts for k bad rows among n). The good
 * rows all land. Any other error (sink unavailable) propagates at once, and the caller retries the whole batch:
 * halves that already landed are then written again, which the deduplicating reads absorb.
 *
 * An item may stand for several rows (a rows message): `split` returns its rows as items, and a rejected item is
 * split and bisected in turn, so the rejection lands on the exact rows. An item `split` throws on (or leaves whole)
 * is rejected whole, with the error `split` threw (or the sink's).
 */
export async function insertIsolating<I>(
  items: I[],
  insert: (items: I[]) => Promise<void>,
  split?: (item: I) => I[],
): Promise<Isolated<I>> {
  const result: Isolated<I> = { rejected: [], landed: [], inserts: 0 }
  async function bisect(part: I[]): Promise<void> {
    const middle = Math.ceil(part.length / 2)
    await attempt(part.slice(0, middle))
    await attempt(part.slice(middle))
  }
  async function isolated(item: I, error: unknown): Promise<void> {
    let parts: I[]
    try {
      parts = split?.(item) ?? [item]
    } catch (splitError) {
      result.rejected.push({ item, error: splitError })
      return
    }
    // One row (or none): the sink refused it already, as `item`.
    if (parts.length <= 1) result.rejected.push({ item: parts[0] ?? item, error })
    else await bisect(parts)
  }
  async function attempt(part: I[]): Promise<void> {
    if (part.length === 0) return
    result.inserts++
    try {
      await insert(part)
      result.landed.push(...part)
    } catch (error) {
      if (!rowsRejected(error)) throw error
      if (part.length === 1) await isolated(part[0] as I, error)
      else await bisect(part)
    }
  }
  await attempt(items)
  return result
}
