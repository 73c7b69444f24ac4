/**
 * When the bulk consumer (bulk-consumer.ts) hands what it collected to its handler: the flush rule and how the next
 * write is cut from the buffer. Pure, so they are tested with a fake clock (test/bulk-policy.unit.test.ts).
 */
export interface BulkPolicy {
  /** Flush when this many messages wait. */
  maxRows: number
  /** Flush when their sizes add up to this many bytes; a batch never exceeds it unless one message alone does. */
  maxBytes: number
  /** Flush when the oldest waiting message has waited this long. */
  maxWaitMs: number
}

export const DEFAULT_BULK_POLICY: BulkPolicy = { maxRows: 10_000, maxBytes: 16 * 1024 * 1024, maxWaitMs: 1_000 }

export type FlushReason = 'rows' | 'bytes' | 'time'

/** The flush rule, whichever limit comes first. Pure, so it is tested with a fake clock. */
export function flushDue(
  policy: BulkPolicy,
  state: { rows: number; bytes: number; oldestAt: number | undefined },
  now: number,
): FlushReason | undefined {
  if (state.rows === 0) return undefined
  if (state.rows >= policy.maxRows) return 'rows'
  if (state.bytes >= policy.maxBytes) return 'bytes'
  if (state.oldestAt !== undefined && now - state.oldestAt >= policy.maxWaitMs) return 'time'
  return undefined
}

/**
 * Removes and returns the next write (a batch) from the front of `buffer`: at most maxRows rows and maxBytes bytes, but at
 * least one message (a message counts `rows` rows, 1 by default: an envelope of events counts its events).
 */
export function takeBulk<T extends { size: number; rows?: number }>(buffer: T[], policy: BulkPolicy): T[] {
  let bytes = 0
  let rows = 0
  let n = 0
  for (const item of buffer) {
    const itemRows = item.rows ?? 1
    if (n > 0 && (rows + itemRows > policy.maxRows || bytes + item.size > policy.maxBytes)) break
    bytes += item.size
    rows += itemRows
    n++
  }
  return buffer.splice(0, n)
}
