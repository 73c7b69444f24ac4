import { describe, expect, it } from 'vitest'
import { createGroupCommitter } from '../src/group-commit.js'

/**
 * The batcher alone, over an in-memory "transaction": concurrent submissions share batches, each caller gets its
 * own result, and a failing batch fails only the items that fail on their own.
 */
function recorder(failOn?: (items: number[]) => boolean) {
  const batches: number[][] = []
  const committed: number[] = []
  return {
    batches,
    committed,
    async commit(items: number[]) {
      batches.push(items)
      await new Promise((resolve) => setImmediate(resolve))
      if (failOn?.(items)) throw new Error(`batch with ${items.join(',')} failed`)
      committed.push(...items)
      return items.map((i) => i * 10)
    },
  }
}

describe('group commit', () => {
  it('commits concurrent submissions in shared batches and answers each with its own result', async () => {
    const r = recorder()
    const committer = createGroupCommitter({ commit: r.commit, maxBatch: 50, maxWaitMs: 1, maxInFlight: 1 })
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => committer.submit(i)))
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i * 10))
    expect(r.batches.length).toBeLessThan(200)
    expect(Math.max(...r.batches.map((b) => b.length))).toBeLessThanOrEqual(50)
    expect(r.committed.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i))
  })

  it('when a batch fails, retries its items one by one and rejects only the one that fails alone', async () => {
    const r = recorder((items) => items.includes(13))
    const committer = createGroupCommitter({ commit: r.commit, maxBatch: 100, maxWaitMs: 1, maxInFlight: 2 })
    const outcomes = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => committer.submit(i)))
    const rejected = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [i] : []))
    expect(rejected).toEqual([13])
    expect(r.committed).not.toContain(13)
    expect(new Set(r.committed).size).toBe(29)
  })

  it('flush() waits until everything submitted has settled', async () => {
    const r = recorder()
    const committer = createGroupCommitter({ commit: r.commit, maxBatch: 10, maxWaitMs: 5, maxInFlight: 1 })
    const pending = Array.from({ length: 25 }, (_, i) => committer.submit(i))
    await committer.flush()
    expect(r.committed).toHaveLength(25)
    await Promise.all(pending)
  })
})
