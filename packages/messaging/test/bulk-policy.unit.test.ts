import { describe, expect, it } from 'vitest'
import { type BulkPolicy, flushDue, takeBulk } from '../index.js'

const policy: BulkPolicy = { maxRows: 5, maxBytes: 1000, maxWaitMs: 1000 }

describe('flush triggers (whichever limit comes first)', () => {
  it('waits while a batch is under every limit', () => {
    expect(flushDue(policy, { rows: 0, bytes: 0, oldestAt: undefined }, 0)).toBeUndefined()
    expect(flushDue(policy, { rows: 4, bytes: 999, oldestAt: 0 }, 999)).toBeUndefined()
  })

  it('flushes at N rows', () => {
    expect(flushDue(policy, { rows: 5, bytes: 10, oldestAt: 0 }, 1)).toBe('rows')
  })

  it('flushes at B bytes', () => {
    expect(flushDue(policy, { rows: 2, bytes: 1000, oldestAt: 0 }, 1)).toBe('bytes')
  })

  it('flushes when the oldest message has waited T ms, counted on the clock it is given', () => {
    let now = 10_000
    const state = { rows: 1, bytes: 10, oldestAt: now }
    now += 999
    expect(flushDue(policy, state, now)).toBeUndefined()
    now += 1
    expect(flushDue(policy, state, now)).toBe('time')
  })

  it('names the first limit reached when several are', () => {
    expect(flushDue(policy, { rows: 7, bytes: 5000, oldestAt: 0 }, 5000)).toBe('rows')
  })
})

describe('taking a batch from the buffer', () => {
  const items = (...sizes: number[]) => sizes.map((size, i) => ({ i, size }))

  it('takes at most N rows, in order', () => {
    const buffer = items(1, 1, 1, 1, 1, 1, 1)
    expect(takeBulk(buffer, policy).map((x) => x.i)).toEqual([0, 1, 2, 3, 4])
    expect(buffer.map((x) => x.i)).toEqual([5, 6])
  })

  it('never exceeds B bytes, except one message larger than B alone', () => {
    const buffer = items(400, 400, 400, 2500, 10)
    expect(takeBulk(buffer, policy).map((x) => x.i)).toEqual([0, 1])
    expect(takeBulk(buffer, policy).map((x) => x.i)).toEqual([2])
    expect(takeBulk(buffer, policy).map((x) => x.i)).toEqual([3])
    expect(takeBulk(buffer, policy).map((x) => x.i)).toEqual([4])
    expect(takeBulk(buffer, policy)).toEqual([])
  })

  it('counts an envelope as its rows, and still takes one that alone exceeds N', () => {
    const buffer = [
      { size: 1, rows: 3 },
      { size: 1, rows: 2 },
      { size: 1, rows: 1 },
      { size: 1, rows: 9 },
    ]
    expect(takeBulk(buffer, policy).map((x) => x.rows)).toEqual([3, 2])
    expect(takeBulk(buffer, policy).map((x) => x.rows)).toEqual([1])
    expect(takeBulk(buffer, policy).map((x) => x.rows)).toEqual([9])
  })
})
