import { describe, expect, it } from 'vitest'
import {
  counter,
  createRegistry,
  describeMetrics,
  exposedMetrics,
  gauge,
  histogram,
  metricNamingProblems,
  type Registry,
} from '../index.js'

const problemsOf = async (define: (registry: Registry) => unknown) => {
  const registry = createRegistry()
  define(registry)
  return metricNamingProblems(exposedMetrics(await registry.metrics()))
}

describe('metric naming convention', () => {
  it('accepts names after the convention, labelled metrics without samples included', async () => {
    expect(
      await problemsOf((r) => {
        counter(r, 'webhook_received_total', 'h', ['source'])
        histogram(r, 'webhook_ack_duration_seconds', 'h', ['source'])
        histogram(r, 'webhook_group_commit_batch_size', 'h')
        gauge(r, 'outbox_oldest_unpublished_seconds', 'h')
        gauge(r, 'consumer_in_flight', 'h', ['queue'])
      }),
    ).toEqual([])
  })

  it.each([
    ['a counter without _total', (r: Registry) => counter(r, 'webhook_received', 'h'), /ends in _total/],
    ['a gauge with _total', (r: Registry) => gauge(r, 'consumer_pending_total', 'h'), /only counters/],
    ['a duration in ms', (r: Registry) => histogram(r, 'webhook_ack_duration_ms', 'h'), /base units/],
    ['a duration without its unit', (r: Registry) => histogram(r, 'webhook_ack_latency', 'h'), /_seconds/],
    ['an age without its unit', (r: Registry) => gauge(r, 'outbox_oldest_age', 'h'), /_seconds/],
  ])('refuses %s', async (_name, define, problem) => {
    const problems = await problemsOf(define)
    expect(problems).toContainEqual(expect.stringMatching(problem))
  })

  it('refuses one prefix in both its singular and plural form', async () => {
    const problems = await problemsOf((r) => {
      counter(r, 'webhook_signature_failures_total', 'h')
      counter(r, 'webhooks_received_total', 'h')
    })
    expect(problems).toEqual(['webhook_ and webhooks_: one prefix per domain, not both forms'])
  })

  it("applies to prom-client's defaults only the rules they keep", () => {
    expect(metricNamingProblems([{ name: 'nodejs_active_handles_total', type: 'gauge' }])).toEqual([])
  })
})

describe('describeMetrics', () => {
  it('lists every registered metric with its type and label names, samples or not, without the default labels', () => {
    const registry = createRegistry({ service: 'ingest' })
    counter(registry, 'webhook_received_total', 'Webhooks', ['source', 'result'])
    gauge(registry, 'outbox_oldest_unpublished_seconds', 'Age')
    expect(describeMetrics(registry)).toEqual([
      { name: 'outbox_oldest_unpublished_seconds', type: 'gauge', help: 'Age', labelNames: [] },
      { name: 'webhook_received_total', type: 'counter', help: 'Webhooks', labelNames: ['result', 'source'] },
    ])
  })
})
