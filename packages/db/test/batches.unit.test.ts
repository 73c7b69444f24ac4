import { describe, expect, it } from 'vitest'
import { repeatWhileFull } from '../lib/batches.js'

describe('repeatWhileFull', () => {
  it('runs again while a run affects a full batch, and sums the counts', async () => {
    const counts = [3, 3, 1, 3]
    let calls = 0
    expect(await repeatWhileFull(async () => counts[calls++] ?? 0, 3)).toBe(7)
    expect(calls).toBe(3)
  })

  it('runs once when the first run is short, and stops on an exactly empty run', async () => {
    const short = [0, 5]
    let calls = 0
    expect(await repeatWhileFull(async () => short[calls++] ?? 0, 5)).toBe(0)
    expect(calls).toBe(1)
    const full = [2, 2, 0]
    calls = 0
    expect(await repeatWhileFull(async () => full[calls++] ?? 0, 2)).toBe(4)
    expect(calls).toBe(3)
  })

  it('passes a failing run on to the caller', async () => {
    await expect(repeatWhileFull(() => Promise.reject(new Error('deadline')), 10)).rejects.toThrow('deadline')
  })
})
