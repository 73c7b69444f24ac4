import { describe, expect, it } from 'vitest'
import { deadLetterHeaders, deliveryHeaders, HEADERS as H, retryHeaders } from '../index.js'

/** The one dead-letter module both consumers use (lib/dead-letter.ts): replay detection and the copies' headers. */
describe('deliveryHeaders', () => {
  it('starts a message moved back from the DLQ afresh, by our header or the broker x-death, and counts replays', () => {
    const ours = deliveryHeaders({ [H.deadLetteredAt]: 't', [H.attempt]: 3, [H.replays]: 1, 'x-custom': 'kept' })
    expect(ours).toEqual({ replayed: true, headers: { [H.replays]: 2, 'x-custom': 'kept' } })
    const broker = deliveryHeaders({ 'x-death': [{ reason: 'delivery_limit', count: 1 }], 'x-delivery-count': 5 })
    expect(broker).toEqual({ replayed: true, headers: { [H.replays]: 1 } })
  })

  it('keeps the failure headers of a copy back from a retry queue (x-death reason expired)', () => {
    const received = { 'x-death': [{ reason: 'expired', count: 1 }], [H.attempt]: 2 }
    expect(deliveryHeaders(received)).toEqual({ replayed: false, headers: received })
  })
})

describe('retry and DLQ copies', () => {
  const failure = {
    headers: { [H.attempt]: 1, [H.lastError]: 'before', [H.firstFailureAt]: 'first' },
    origin: { exchange: 'orders', routingKey: 'order.placed' },
    error: new Error('multi\nline'),
    attempt: 2,
  }

  it('writes the attempt, the first failure time and the last error on a retry copy', () => {
    expect(retryHeaders(failure, 'now')).toEqual({
      [H.attempt]: 2,
      [H.lastError]: 'Error: multi line',
      [H.firstFailureAt]: 'first',
      [H.lastFailureAt]: 'now',
      [H.originalExchange]: 'orders',
      [H.originalRoutingKey]: 'order.placed',
    })
  })

  it('writes why, how many attempts and who gave up on a DLQ copy, without the retry counters', () => {
    expect(deadLetterHeaders(failure, 'orders.work', 'now')).toEqual({
      [H.error]: 'Error: multi line',
      [H.attempts]: 2,
      [H.firstFailureAt]: 'first',
      [H.lastFailureAt]: 'now',
      [H.deadLetteredBy]: 'orders.work',
      [H.deadLetteredAt]: 'now',
      [H.originalExchange]: 'orders',
      [H.originalRoutingKey]: 'order.placed',
    })
  })
})
