import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rabbitAdmin, waitFor } from '../../../packages/testing/index.js'
import { type PlatformApp, RABBITMQ_PROMETHEUS_URL, startPlatformApp } from './support/platform-apps.js'
import { type PrometheusAlert, type RunningPrometheus, startPrometheus } from './support/prometheus-server.js'

/**
 * The alert rules against a real fault, through a real Prometheus (2.42, the version CI installs): a log-shipper
 * built as its buildApp makes it, listening on a port, in a vhost of its own; Prometheus scraping it and RabbitMQ's
 * rabbitmq_prometheus endpoint (that vhost's queues) every second with infra/prometheus/alerts.yml. A message the
 * shipper dead-letters makes DeadLettersRising go pending for this vhost's DLQ; stopping the shipper makes
 * QueueWithoutConsumer and ServiceDown go pending. Pending is the state an alert is in while its `for` runs (1 and
 * 2 minutes here): seen through /api/v1/alerts, it shows the rule matched the real series. `for` itself is what the
 * promtool unit tests check (prometheus-rules.unit.test.ts).
 */
let shipper: PlatformApp
let prometheus: RunningPrometheus
let vhost: string
const DLQ = 'log-shipper.eventlog.dlq'
const WORK_QUEUE = 'log-shipper.eventlog'

beforeAll(async () => {
  shipper = await startPlatformApp('log-shipper')
  vhost = shipper.env.vhost.vhost
  const address = new URL(await shipper.app.listen({ host: '127.0.0.1', port: 0 }))
  const rabbitmq = new URL(RABBITMQ_PROMETHEUS_URL).host
  prometheus = await startPrometheus({
    targets: { 'log-shipper': address.host, rabbitmq, 'rabbitmq-queues': rabbitmq },
    vhost,
  })
}, 120_000)

afterAll(async () => {
  await prometheus?.stop()
  await shipper?.close()
})

/** The alert of that name whose labels include `labels`, once it is pending or firing. */
async function activeAlert(alertname: string, labels: Record<string, string>): Promise<PrometheusAlert> {
  return waitFor(
    async () =>
      (await prometheus.alerts()).find(
        (a) => a.labels.alertname === alertname && Object.entries(labels).every(([k, v]) => a.labels[k] === v),
      ),
    { timeoutMs: 45_000, intervalMs: 500, message: `${alertname} ${JSON.stringify(labels)} pending or firing` },
  )
}

const ours = (a: PrometheusAlert) => a.labels.vhost === vhost || a.labels.job === 'log-shipper'

describe('alerts.yml in a running Prometheus, against a running log-shipper and RabbitMQ', () => {
  it("scrapes the shipper and this vhost's queues, and nothing of theirs alerts while all is well", async () => {
    await waitFor(
      async () => {
        const targets = await prometheus.targets()
        return targets.length === 3 && targets.every((t) => t.health === 'up')
      },
      { timeoutMs: 30_000, message: 'every target up' },
    )
    // The DLQ is declared and empty, and the consumer attached, as Prometheus sees them.
    await waitFor(
      async () => {
        const [dlq] = await prometheus.query(`rabbitmq_detailed_queue_messages{vhost="${vhost}", queue="${DLQ}"}`)
        const [consumers] = await prometheus.query(
          `rabbitmq_detailed_queue_consumers{vhost="${vhost}", queue="${WORK_QUEUE}"}`,
        )
        return dlq?.value[1] === '0' && Number(consumers?.value[1]) >= 1
      },
      { timeoutMs: 30_000, message: 'the empty DLQ and the attached consumer scraped' },
    )
    const [ready] = await prometheus.query('min(readiness_check_ok{job="log-shipper"})')
    expect(ready?.value[1]).toBe('1')
    await prometheus.evaluatedAfter(new Date())
    expect((await prometheus.alerts()).filter(ours)).toEqual([])
  })

  it('a message the shipper dead-letters makes DeadLettersRising go pending for the DLQ of this vhost', async () => {
    // A body that is not JSON breaks the schema: the shipper dead-letters it at once (docs/eventlog.md).
    const routed = await rabbitAdmin().call<{ routed: boolean }>(
      'POST',
      `/exchanges/${encodeURIComponent(vhost)}/eventlog/publish`,
      {
        routing_key: 'eventlog.alerting-test.broken',
        payload: 'not json',
        payload_encoding: 'string',
        properties: { message_id: 'alerting-test-1', type: 'eventlog.recorded.v1', delivery_mode: 2 },
      },
    )
    expect(routed).toEqual({ routed: true })
    const alert = await activeAlert('DeadLettersRising', { vhost, queue: DLQ })
    expect(alert).toMatchObject({ state: expect.stringMatching(/^(pending|firing)$/) })
    expect(alert.labels.severity).toBe('warning')
    expect(Number(alert.value)).toBeGreaterThan(0)
    // Only this DLQ rose: the work queue is not one, and nothing else of ours alerts.
    expect((await prometheus.alerts()).filter(ours).map((a) => a.labels.alertname)).toEqual(['DeadLettersRising'])
  })

  it('stopping the shipper makes QueueWithoutConsumer and ServiceDown go pending', async () => {
    await shipper.stop()
    const noConsumer = await activeAlert('QueueWithoutConsumer', { vhost, queue: WORK_QUEUE })
    expect(noConsumer.labels.severity).toBe('critical')
    const down = await activeAlert('ServiceDown', { job: 'log-shipper' })
    expect(down.labels.severity).toBe('critical')
    expect(
      (await prometheus.alerts())
        .filter(ours)
        .map((a) => a.labels.alertname)
        .sort(),
    ).toEqual(['DeadLettersRising', 'QueueWithoutConsumer', 'ServiceDown'])
  })
})
