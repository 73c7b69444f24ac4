import { DeadlineError } from '@platform/db'
import { StalledError } from '@platform/metrics'
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

  /** A commit that never settles, like the one a PostgreSQL restart left behind; the others commit at once. */
  function oneHangs() {
    let first = true
    return async (items: number[]) => {
      if (first) {
        first = false
        return new Promise<number[]>(() => {})
      }
      return items.map((i) => i * 10)
    }
  }

  it('starts a waiting batch within maxWaitMs while another batch hangs in flight (not only once maxBatch wait)', async () => {
    const committer = createGroupCommitter({
      commit: oneHangs(),
      maxBatch: 200,
      maxWaitMs: 2,
      maxInFlight: 2,
      commitTimeoutMs: 1000,
    })
    void committer.submit(1).catch(() => {})
    await new Promise((r) => setTimeout(r, 10))
    const started = performance.now()
    // Before the fix this waited for 199 more items (or forever at low traffic).
    expect(await committer.submit(2)).toBe(20)
    expect(performance.now() - started).toBeLessThan(200)
  })

  it('fails a batch past its deadline, with a DeadlineError and no retry item by item, and frees its slot', async () => {
    const calls: number[][] = []
    const hanging = oneHangs()
    const committer = createGroupCommitter({
      commit: (items: number[]) => {
        calls.push(items)
        return hanging(items)
      },
      maxBatch: 200,
      maxWaitMs: 1,
      maxInFlight: 1,
      commitTimeoutMs: 100,
    })
    const hung = Promise.allSettled([committer.submit(1), committer.submit(2)])
    const outcomes = await hung
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected'])
    expect((outcomes[0] as PromiseRejectedResult).reason).toBeInstanceOf(DeadlineError)
    expect(calls).toEqual([[1, 2]])
    // The only slot is free again.
    expect(await committer.submit(3)).toBe(30)
  })

  it('reports a stall to readiness while items wait and no batch settles, and recovers when one does', async () => {
    let release: (() => void) | undefined
    const committer = createGroupCommitter({
      commit: (items: number[]) =>
        new Promise<number[]>((resolve) => {
          release = () => resolve(items.map((i) => i * 10))
        }),
      maxBatch: 10,
      maxWaitMs: 1,
      maxInFlight: 1,
      commitTimeoutMs: 60_000,
      stallAfterMs: 50,
    })
    expect(() => committer.progress.check()).not.toThrow()
    const result = committer.submit(1)
    await new Promise((r) => setTimeout(r, 80))
    expect(() => committer.progress.check()).toThrow(StalledError)
    expect(() => committer.progress.check()).toThrow(/group commit: no progress for \d+ s while 1 wait/)
    release?.()
    expect(await result).toBe(10)
    expect(() => committer.progress.check()).not.toThrow()
  })
})
