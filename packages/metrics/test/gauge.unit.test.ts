import { afterEach, describe, expect, it, vi } from 'vitest'
import { COLLECT_TIMEOUT_MS, createRegistry, gauge } from '../index.js'

afterEach(() => {
  vi.useRealTimers()
})

describe('gauge', () => {
  it('runs its collect on every scrape', async () => {
    const registry = createRegistry()
    let n = 0
    gauge(registry, 'test_collected', 'collected on scrape', [], async function collect() {
      this.set(++n)
    })
    expect(await registry.metrics()).toContain('test_collected 1')
    expect(await registry.metrics()).toContain('test_collected 2')
  })

  it('does not let a collect that never settles hang the scrape: the other metrics and the last value are reported', async () => {
    vi.useFakeTimers()
    const registry = createRegistry()
    let hang = false
    gauge(registry, 'test_stuck', 'a collect whose query may hang', [], async function collect() {
      if (hang) await new Promise(() => {})
      this.set(7)
    })
    gauge(registry, 'test_other', 'another metric').set(3)
    expect(await registry.metrics()).toContain('test_stuck 7')

    hang = true
    let text: string | undefined
    const scrape = registry.metrics().then((t) => {
      text = t
    })
    await vi.advanceTimersByTimeAsync(COLLECT_TIMEOUT_MS - 10)
    expect(text).toBeUndefined()
    await vi.advanceTimersByTimeAsync(20)
    await scrape
    expect(text).toContain('test_stuck 7')
    expect(text).toContain('test_other 3')
  })
})
