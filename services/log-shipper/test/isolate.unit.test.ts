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
    expect(result).toEqual({ rejected: [], inserts: 1 })
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

  it('gives up at once when the sink is unavailable, so the caller retries the whole batch', async () => {
    const store = memoryStore((n) => n === 5, { after: 2 })
    await expect(insertIsolating(range(100), (rows) => store.insert(rows))).rejects.toMatchObject({
      code: 'LOGSHIP_SINK_UNAVAILABLE',
    })
    expect(store.calls()).toBe(3)
  })
})
