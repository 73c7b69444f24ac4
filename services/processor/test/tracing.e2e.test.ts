import { createHmac, randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { logShipperConsumer, processorWebhooksConsumer } from '@platform/contracts'
import { createTestClickHouseDatabase, type TestClickHouse } from '@platform/eventlog/testing'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { dlqName } from '@platform/messaging'
import { type RunningProcess, rabbitAdmin, startTsProcess, waitFor } from '@platform/testing'
import { type OtlpReceiver, type ReceivedSpan, SPAN_KIND, startOtlpReceiver } from '@platform/tracing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { consumersBound } from './harness.js'

/**
 * One trace from the HTTP request to ClickHouse (docs/operations.md, "Tracing"): ingest, the processor and the
 * log-shipper as the real processes, exporting to an OTLP/HTTP receiver this test runs. A signed webhook's trace holds
 * ingest's server span, its outbox relay's publish (on the relay's worker thread), the processor's consumer span,
 * the processor relay's publish of the event log and the log-shipper's write, each the child of the one before; its
 * event-log rows in ClickHouse hold its trace id; and a webhook that goes through a retry tier, the DLQ and an
 * operator's replay stays in its trace, each attempt under the copy the attempt before published.
 */
const serverFile = (service: string) => fileURLToPath(new URL(`../../${service}/src/server.ts`, import.meta.url))
const PAYMENT_SECRET = 'whsec_trace_payment_0123456789'
const ORDERS_SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`
const TOKEN = 'trace-read-token-0123456789'

let receiver: OtlpReceiver
let ch: TestClickHouse
let ingestEnv: ServiceTestEnv
let processorEnv: ServiceTestEnv
let shipperEnv: ServiceTestEnv
const processes: RunningProcess[] = []
let ingest: RunningProcess
let url: string
const vhost = () => ingestEnv.vhost.vhost

function start(service: string, env: Record<string, string>): RunningProcess {
  const child = startTsProcess(serverFile(service), {
    ...env,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_TRACES_SAMPLER_ARG: '1',
    // Exported within a fifth of a second, so the test waits little.
    OTEL_BSP_SCHEDULE_DELAY: '200',
  })
  processes.push(child)
  return child
}

beforeAll(async () => {
  receiver = await startOtlpReceiver()
  ch = await createTestClickHouseDatabase('trace')
  const sources = join(tmpdir(), `trace-sources-${randomUUID()}.json`)
  writeFileSync(
    sources,
    JSON.stringify({
      sources: [
        { name: 'payment', scheme: 'stripe', secrets: [PAYMENT_SECRET], readToken: TOKEN },
        { name: 'orders', scheme: 'standard', secrets: [ORDERS_SECRET], readToken: TOKEN },
      ],
    }),
  )
  ingestEnv = await createServiceTestEnv('ingest', { PORT: '0', LOG_LEVEL: 'info', WEBHOOK_SOURCES_FILE: sources })
  const shared = { PORT: '0', LOG_LEVEL: 'info', AMQP_URL: ingestEnv.vhost.amqpUrl }
  processorEnv = await createServiceTestEnv('processor', {
    ...shared,
    PROCESSING_DELAY_MS: '10',
    WEBHOOK_RETRY_DELAYS_MS: '300',
    WEBHOOK_MAX_ATTEMPTS: '3',
  })
  shipperEnv = await createServiceTestEnv('log_shipper', {
    ...shared,
    CLICKHOUSE_DATABASE: ch.database,
    LOG_SHIPPER_BATCH_WAIT_MS: '100',
  })
  ingest = start('ingest', ingestEnv.env)
  const others = [start('processor', processorEnv.env), start('log-shipper', shipperEnv.env)]
  await ingest.waitForOutput(/ingest listening on http:\/\//, 30_000)
  url = /ingest listening on (http:\/\/[\d.:]+)/.exec(ingest.output())?.[1] as string
  await Promise.all(others.map((p) => p.waitForOutput(/listening on http:\/\//, 30_000)))
  await consumersBound(vhost())
  await waitFor(async () => {
    const path = `/queues/${encodeURIComponent(vhost())}/${encodeURIComponent(logShipperConsumer.queue)}/bindings`
    return (await rabbitAdmin().call<{ source: string }[]>('GET', path)).some((b) => b.source === 'eventlog')
  })
}, 120_000)

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill('SIGKILL')))
  await Promise.allSettled([ingestEnv?.cleanup(), processorEnv?.cleanup(), shipperEnv?.cleanup(), ch?.drop()])
  await receiver?.close()
})

async function post(source: 'payment' | 'orders', body: unknown) {
  const payload = JSON.stringify(body)
  const t = Math.floor(Date.now() / 1000)
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (source === 'payment') {
    headers['stripe-signature'] =
      `t=${t},v1=${createHmac('sha256', PAYMENT_SECRET).update(`${t}.${payload}`).digest('hex')}`
  } else {
    const id = `msg_${randomUUID()}`
    const key = Buffer.from(ORDERS_SECRET.slice(6), 'base64')
    const mac = createHmac('sha256', key).update(`${id}.${t}.${payload}`).digest('base64')
    Object.assign(headers, { 'webhook-id': id, 'webhook-timestamp': String(t), 'webhook-signature': `v1,${mac}` })
  }
  const res = await fetch(`${url}/v1/webhooks/${source}`, { method: 'POST', headers, body: payload })
  expect(res.status).toBe(200)
  const accepted = (await res.json()) as { id: string; status_url: string }
  return { ...accepted, correlationId: res.headers.get('x-correlation-id') ?? '' }
}

async function status(path: string): Promise<string> {
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
  return ((await res.json()) as { status: string }).status
}

/** The event-log rows whose context names one of these ids (a webhook's, an order's), deduplicated. */
async function rowsOf(...ids: string[]) {
  const names = ids.map((id) => `position(event_context, '${id.replace(/[^A-Za-z0-9_-]/g, '')}') > 0`).join(' OR ')
  const result = await ch.client.query({
    query: `SELECT event_type, trace_id, span_id FROM event_log_dedup WHERE ${names} ORDER BY event_type`,
    format: 'JSONEachRow',
  })
  return result.json<{ event_type: string; trace_id: string; span_id: string }>()
}

const byId = (spans: ReceivedSpan[]) => new Map(spans.map((s) => [s.spanId, s]))

/** The one span matching, with a message naming what the trace holds otherwise. */
function one(spans: ReceivedSpan[], match: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan {
  const found = spans.filter(match)
  expect(found.length, `${what} in ${spans.map((s) => `${s.service}:${s.name}`).join(', ')}`).toBeGreaterThanOrEqual(1)
  return found[0] as ReceivedSpan
}

describe('tracing across ingest, outbox, RabbitMQ, processor and log-shipper', () => {
  it('follows a signed webhook in one trace, parent by parent, to its rows in ClickHouse', async () => {
    const orderId = `ord_${randomUUID().slice(0, 12)}`
    const accepted = await post('payment', {
      id: `evt_${randomUUID()}`,
      type: 'charge.succeeded',
      created: 1_700_000_000,
      data: { object: { id: `ch_${randomUUID()}`, amount: 700, currency: 'eur', metadata: { order_id: orderId } } },
    })
    // The correlation id an operator gets back is the trace id.
    const traceId = accepted.correlationId
    expect(traceId).toMatch(/^[0-9a-f]{32}$/)

    // Every event-log row of the webhook, ingest's and the processor's, holds the trace id.
    const rows = await waitFor(
      async () => {
        const got = await rowsOf(accepted.id, orderId)
        const types = new Set(got.map((r) => r.event_type))
        return types.has('webhook.accepted') && types.has('order.paid') ? got : undefined
      },
      { timeoutMs: 30_000, message: 'the webhook rows in ClickHouse' },
    )
    expect(rows.every((r) => r.trace_id === traceId && /^[0-9a-f]{16}$/.test(r.span_id))).toBe(true)

    // Each process (and the relay threads) exports its spans in batches of its own, so they arrive in any order:
    // wait for the log-shipper's spans under both publishes of the event log, and with them their parents.
    const spans = await waitFor(
      () => {
        const got = receiver.trace(traceId)
        const ids = byId(got)
        const shippedUnder = (service: string) =>
          got.some((s) => {
            const parent = ids.get(s.parentSpanId)
            return (
              s.service === 'log-shipper' &&
              s.kind === SPAN_KIND.consumer &&
              parent?.service === service &&
              parent.name === 'publish eventlog'
            )
          })
        return shippedUnder('processor') && shippedUnder('ingest') ? got : undefined
      },
      { timeoutMs: 30_000, message: "the log-shipper's spans of both event logs in the trace" },
    )
    const spansById = byId(spans)
    const parentOf = (s: ReceivedSpan) => spansById.get(s.parentSpanId)

    const server = one(
      spans,
      (s) => s.service === 'ingest' && s.kind === SPAN_KIND.server && s.name === 'POST /v1/webhooks/:source',
      "ingest's server span",
    )
    expect(server.parentSpanId).toBe('')
    expect(server.attributes['http.response.status_code']).toBe(200)
    expect(server.attributes['platform.correlation_id']).toBe(traceId)
    // Under it the Fastify instrumentation's request span, and under that the route's handler: the work's parent.
    const handler = one(
      spans,
      (s) => s.service === 'ingest' && s.scope === '@fastify/otel' && s.name === 'handler - webhookRoutes',
      "ingest's route handler span",
    )
    expect(parentOf(handler)).toMatchObject({ name: 'request', kind: SPAN_KIND.internal, parentSpanId: server.spanId })
    expect(spans.filter((s) => s.service === 'ingest' && s.name.length > 80).map((s) => s.name)).toEqual([])
    // The group commit the request waited for, and the statement it ran, inside the request's trace.
    const commit = one(spans, (s) => s.name === 'group commit' && s.parentSpanId === handler.spanId, 'group commit')
    expect(spans.some((s) => s.attributes['db.system.name'] === 'postgresql' && parentOf(s) === commit)).toBe(true)

    // ingest's relay (a worker thread) publishes the webhook, continuing the request.
    const ingestPublish = one(
      spans,
      (s) => s.service === 'ingest' && s.name === 'publish webhooks' && s.kind === SPAN_KIND.producer,
      "ingest relay's publish",
    )
    expect(parentOf(ingestPublish)).toBe(handler)
    // The processor handles it under that publish; its queries and its relay's publishes under its span.
    const processed = one(
      spans,
      (s) => s.service === 'processor' && s.name === `process ${processorWebhooksConsumer.queue}`,
      "the processor's consumer span",
    )
    expect(processed.kind).toBe(SPAN_KIND.consumer)
    expect(parentOf(processed)).toBe(ingestPublish)
    expect(
      spans.some((s) => s.service === 'processor' && s.scope === '@platform/db' && parentOf(s) === processed),
    ).toBe(true)
    const processorPublish = one(
      spans,
      (s) => s.service === 'processor' && s.name === 'publish eventlog' && parentOf(s) === processed,
      "the processor relay's publish of the event log",
    )
    // The log-shipper's write of the processor's events: a consumer span under that publish. The write itself (the
    // ClickHouse insert) runs inside the batch's first such span, which the others link to.
    const shipped = one(
      spans,
      (s) => s.service === 'log-shipper' && s.kind === SPAN_KIND.consumer && parentOf(s) === processorPublish,
      "the log-shipper's span",
    )
    const all = receiver.spans()
    const leader = shipped.links.length === 0 ? shipped : all.find((s) => s.spanId === shipped.links[0]?.spanId)
    expect(leader, 'the batch leader span').toBeDefined()
    const insert = one(
      all,
      (s) => s.service === 'log-shipper' && s.name === 'INSERT event_log' && s.parentSpanId === leader?.spanId,
      'the ClickHouse insert',
    )
    expect(insert.kind).toBe(SPAN_KIND.client)
    // ingest's own record (webhook.accepted) reached the log-shipper in this trace too, and its row names the span it
    // was recorded in, the handler's.
    expect(rows.find((r) => r.event_type === 'webhook.accepted')?.span_id).toBe(handler.spanId)
    expect(
      spans.some(
        (s) =>
          s.service === 'log-shipper' &&
          s.kind === SPAN_KIND.consumer &&
          parentOf(s)?.service === 'ingest' &&
          parentOf(s)?.name === 'publish eventlog',
      ),
    ).toBe(true)

    // Every line ingest logged inside the request carries the trace id.
    expect(ingest.output()).toContain(`"trace_id":"${traceId}"`)
    expect(receiver.errors()).toEqual([])
  })

  it('keeps a webhook that went through a retry tier, the DLQ and a replay in its trace', async () => {
    // Attempt 1 fails (retry tier), attempt 2 fails for good (DLQ); after the replay attempt 1 fails again and attempt
    // 2 passes.
    const accepted = await post('orders', {
      idempotency_key: `ord-${randomUUID()}`,
      event_type: 'order.created',
      payload: { simulate: { failAttempts: 1, failUntilReplayed: true } },
    })
    const traceId = accepted.correlationId
    await waitFor(async () => (await status(accepted.status_url)) === 'dead', { timeoutMs: 20_000 })
    const dlq = dlqName(processorWebhooksConsumer.queue)
    const [dead] = await waitFor(async () => {
      const got = await rabbitAdmin().getMessages(vhost(), dlq, 10)
      return got.length === 1 ? got : undefined
    })
    // The DLQ copy carries the trace on, under the attempt that gave up.
    expect(String(dead?.properties.headers?.traceparent)).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`))

    // The runbook's replay: a shovel moves the message back to the work queue.
    await rabbitAdmin().moveMessages(vhost(), dlq, processorWebhooksConsumer.queue)
    await waitFor(async () => (await status(accepted.status_url)) === 'completed', { timeoutMs: 20_000 })

    const processName = `process ${processorWebhooksConsumer.queue}`
    const spans = await waitFor(
      () => {
        const got = receiver.trace(traceId)
        const attempts = got.filter((s) => s.name === processName)
        return attempts.length === 4 && attempts.some((s) => s.attributes['platform.message.outcome'] === 'ack')
          ? got
          : undefined
      },
      { timeoutMs: 20_000, message: 'four processing attempts in the trace' },
    )
    const spansById = byId(spans)
    const parentOf = (s: ReceivedSpan) => spansById.get(s.parentSpanId)
    const attempts = spans.filter((s) => s.name === processName).sort((a, b) => Number(a.startNs - b.startNs))
    // The first attempt continues the ingest relay's publish; each later one the copy the attempt before published.
    expect(parentOf(attempts[0] as ReceivedSpan)?.name).toBe('publish webhooks')
    const copies = attempts.slice(1).map((a) => parentOf(a))
    expect(copies.map((c) => c?.name.replace(/retry\.\d+ms/, 'retry'))).toEqual([
      `publish ${processorWebhooksConsumer.queue}.retry`,
      `publish ${dlq}`,
      `publish ${processorWebhooksConsumer.queue}.retry`,
    ])
    copies.forEach((copy, i) => {
      expect(copy && parentOf(copy)).toBe(attempts[i])
    })
    expect(attempts.map((a) => a.attributes['platform.message.outcome'])).toEqual(['retry', 'dead', 'retry', 'ack'])
    expect(attempts.map((a) => a.attributes['platform.message.replays'] ?? 0)).toEqual([0, 0, 1, 1])
    // The dead-lettering's event-log row is in the trace as well, under the attempt that gave up.
    const deadRow = await waitFor(
      async () => (await rowsOf(accepted.id)).find((r) => r.event_type === 'webhook.dead_lettered'),
      { timeoutMs: 20_000, message: 'the webhook.dead_lettered row' },
    )
    expect(deadRow).toEqual({ event_type: 'webhook.dead_lettered', trace_id: traceId, span_id: attempts[1]?.spanId })
  })
})
