import { describe, expect, it } from 'vitest'
import { LogShipperError } from '../src/errors.js'
import { insertIsolating } from '../src/isolate.js'

/**
 * An in-memory store with ClickHouse's all-or-nothing insert: a batch holding a bad value is refused whole.
 * (A real sink is exercised by the integration tests; this checks the bisection's bookkeeping.)
 */
function memoryStore(bad: (n: number) => boolean, outage?: { after: number }) {
  const stored: number[] = []
  let calls = 0
  return {
    stored,
    calls: () => calls,
    async insert(rows: number[]) {
      calls++
      if (outage && calls > outage.after) throw new LogShipperError('LOGSHIP_SINK_UNAVAILABLE', 'connection refused')
      const poison = rows.find(bad)
      if (poison !== undefined) throw new LogShipperError('LOGSHIP_ROWS_REJECTED', `cannot parse row ${poison}`)
      stored.push(...rows)
    },
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe('isolating rejected rows by bisection', () => {
  it('inserts a clean batch in one call', async () => {
    const store = memoryStore(() => false)
    const result = await insertIsolating(range(1000), (rows) => store.insert(rows))
    expect(result).toMatchObject({ rejected: [], inserts: 1 })
    expect(result.landed).toHaveLength(1000)
    expect(store.stored).toHaveLength(1000)
  })

  it('lands every good row and names each bad one with its reason', async () => {
    const store = memoryStore((n) => n === 3 || n === 700)
    const result = await insertIsolating(range(1000), (rows) => store.insert(rows))
    expect(result.rejected.map((r) => r.item)).toEqual([3, 700])
    expect(String(result.rejected[0]?.error)).toContain('cannot parse row 3')
    expect([...store.stored].sort((a, b) => a - b)).toEqual(range(1000).filter((n) => n !== 3 && n !== 700))
    // About 2·k·log2(n) inserts for k bad rows among n, far fewer than one per row.
    expect(result.inserts).toBeLessThanOrEqual(1 + 2 * 2 * Math.ceil(Math.log2(1000)))
  })

  it('rejects a single bad row on its own', async () => {
    const store = memoryStore(() => true)
    const result = await insertIsolating([42], (rows) => store.insert(rows))
    expect(result.rejected.map((r) => r.item)).toEqual([42])
  })

  it('bisects over messages first, then over the rows of a message rejected alone (its rows land, but the bad one)', async () => {
    // Items are messages of 10 rows each (row ids m*10..m*10+9); the store takes rows, a message's rows at once.
    type Message = { rows: number[] }
    const store = memoryStore((n) => n === 47 || n === 83)
    const messages: Message[] = range(10).map((m) => ({ rows: range(10).map((r) => m * 10 + r) }))
    const result = await insertIsolating(
      messages,
      (items) => store.insert(items.flatMap((m) => m.rows)),
      (message) => message.rows.map((row) => ({ rows: [row] })),
    )
    expect(result.rejected.map((r) => r.item.rows)).toEqual([[47], [83]])
    expect(String(result.rejected[0]?.error)).toContain('cannot parse row 47')
    expect([...store.stored].sort((a, b) => a - b)).toEqual(range(100).filter((n) => n !== 47 && n !== 83))
    // What landed: the clean messages whole, and the rows of the two split ones but the bad rows.
    expect(result.landed.filter((m) => m.rows.length === 10)).toHaveLength(8)
    expect(result.landed.filter((m) => m.rows.length === 1)).toHaveLength(18)
    expect(result.inserts).toBeLessThanOrEqual(1 + 2 * 2 * (Math.ceil(Math.log2(10)) + Math.ceil(Math.log2(10))))
  })

  it('rejects an item whole, with the reason, when it cannot be split', async () => {
    const store = memoryStore((n) => n === 3)
    const result = await insertIsolating(
      [[1, 2], [3, 4], [5]],
      (items) => store.insert(items.flat()),
      () => {
        throw new Error('rows message body is not valid JSON')
      },
    )
    expect(result.rejected).toEqual([{ item: [3, 4], error: new Error('rows message body is not valid JSON') }])
    expect(store.stored.sort()).toEqual([1, 2, 5])
  })

  it('gives up at once when the sink is unavailable, so the caller retries the whole batch', async () => {
    const store = memoryStore((n) => n === 5, { after: 2 })
    await expect(insertIsolating(range(100), (rows) => store.insert(rows))).rejects.toMatchObject({
      code: 'LOGSHIP_SINK_UNAVAILABLE',
    })
    expect(store.calls()).toBe(3)
  })
})
