import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { createPageMemo } from '../src/queries/page-memo.js'

/** The hot feed's in-process page memo (queries/page-memo.ts): reuse within the TTL, sharing, failures, the cap. */
function counted(answer = (n: number) => `page ${n}`) {
  let calls = 0
  return {
    load: async () => {
      calls++
      await sleep(5)
      return answer(calls)
    },
    get calls() {
      return calls
    },
  }
}

describe('createPageMemo', () => {
  it('loads once for concurrent requests and for requests within the TTL, counting them as hits', async () => {
    let hits = 0
    const memo = createPageMemo({ ttlMs: 200, maxEntries: 10 })
    const source = counted()
    const hit = () => hits++
    const answers = await Promise.all(Array.from({ length: 50 }, () => memo.get('a', source.load, hit)))
    expect(new Set(answers)).toEqual(new Set(['page 1']))
    expect(await memo.get('a', source.load, hit)).toBe('page 1')
    expect({ calls: source.calls, hits }).toEqual({ calls: 1, hits: 50 })
  })

  it('loads again once the TTL is over, and keeps keys apart', async () => {
    const memo = createPageMemo({ ttlMs: 30, maxEntries: 10 })
    const source = counted()
    expect(await memo.get('a', source.load)).toBe('page 1')
    expect(await memo.get('b', source.load)).toBe('page 2')
    await sleep(40)
    expect(await memo.get('a', source.load)).toBe('page 3')
  })

  it('does not keep a failure: the next request loads again', async () => {
    const memo = createPageMemo({ ttlMs: 10_000, maxEntries: 10 })
    await expect(memo.get('a', () => Promise.reject(new Error('redis down')))).rejects.toThrow('redis down')
    expect(await memo.get('a', async () => 'page')).toBe('page')
  })

  it('holds at most maxEntries pages, dropping the oldest', async () => {
    const memo = createPageMemo({ ttlMs: 10_000, maxEntries: 2 })
    const source = counted()
    await memo.get('a', source.load)
    await memo.get('b', source.load)
    await memo.get('c', source.load)
    expect(await memo.get('b', source.load)).toBe('page 2')
    expect(await memo.get('a', source.load)).toBe('page 4')
  })

  it('drops expired pages as soon as another is added, whatever room is left', async () => {
    // Loads that answer at once and a TTL far above their time: with 20 ms and 5 ms loads, a busy CI machine took
    // longer than the TTL to add the three, and the first had expired before the third came.
    const memo = createPageMemo({ ttlMs: 250, maxEntries: 100 })
    for (const key of ['a', 'b', 'c']) await memo.get(key, async () => key)
    expect(memo.size).toBe(3)
    await sleep(300)
    await memo.get('d', async () => 'd')
    expect(memo.size).toBe(1)
  })

  it('is off at a TTL of 0: every request loads', async () => {
    const memo = createPageMemo({ ttlMs: 0, maxEntries: 10 })
    const source = counted()
    await Promise.all([memo.get('a', source.load), memo.get('a', source.load)])
    expect(source.calls).toBe(2)
  })
})
