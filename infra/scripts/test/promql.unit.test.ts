import { describe, expect, it } from 'vitest'
import { metricNamesIn } from '../lib/promql.js'

/** The metric names the tests hold against the services' registries: labels, functions and keywords are not ones. */
describe('metricNamesIn', () => {
  it.each([
    ['up == 0', ['up']],
    [
      'histogram_quantile(0.99, sum by (service, le) (rate(webhook_ack_duration_seconds_bucket[5m]))) > 0.25',
      ['webhook_ack_duration_seconds_bucket'],
    ],
    [
      'sum(rate(a_total{reason="unavailable", x=~"by|on"}[5m])) by (service) / ignoring(reason) group_left(le) b_total offset 5m',
      ['a_total', 'b_total'],
    ],
    ['deriv(q{queue!~".+\\\\.dlq"}[15m:1m]) > 1 and q > 1000 unless on (queue) c', ['c', 'q']],
    ['(m1 + m2) > bool 0 or vector(0) * time()', ['m1', 'm2']],
    ['rate(x_total[$__rate_interval]) * 1e3 + 2.5', ['x_total']],
  ])('%s', (expr, names) => {
    expect(metricNamesIn(expr)).toEqual(names)
  })
})
