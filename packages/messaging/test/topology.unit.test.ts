import { describe, expect, it } from 'vitest'
import { consumerTopology, defineConsumer, defineExchange, retryDelayFor } from '../index.js'

describe('retry topology', () => {
  const def = defineConsumer({
    queue: 'svc.work',
    bindings: [{ exchange: defineExchange('events'), routingKey: '#' }],
    retry: { delaysMs: [1000, 5000, 30000, 5000], maxAttempts: 8 },
  })

  it('derives one retry queue per distinct delay, and a DLQ', () => {
    const t = consumerTopology(def)
    expect(t.dlq).toBe('svc.work.dlq')
    expect(t.retryQueues.map((q) => q.name)).toEqual([
      'svc.work.retry.1000ms',
      'svc.work.retry.5000ms',
      'svc.work.retry.30000ms',
    ])
  })

  it('delays by attempt, repeating the last tier, and lets Retry-After pick a long-enough tier', () => {
    const delays = [1000, 5000, 30000]
    expect([1, 2, 3, 4, 7].map((n) => retryDelayFor(delays, n))).toEqual([1000, 5000, 30000, 30000, 30000])
    expect(retryDelayFor(delays, 1, 2000)).toBe(5000)
    expect(retryDelayFor(delays, 1, 120_000)).toBe(30000)
  })

  it('rejects a policy that cannot work', () => {
    expect(() => defineConsumer({ queue: 'x', bindings: [], retry: { delaysMs: [], maxAttempts: 3 } })).toThrow(
      /retry delays/,
    )
    expect(() => defineConsumer({ queue: 'x', bindings: [], retry: { delaysMs: [10], maxAttempts: 0 } })).toThrow(
      /maxAttempts/,
    )
  })
})
