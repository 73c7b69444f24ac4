import { processorWebhooksConsumer } from '@platform/contracts'
import { createSql, type Sql } from '@platform/db'
import { dlqName } from '@platform/messaging'
import {
  type PrivatePostgres,
  rabbitAdmin,
  sleep,
  startPrivatePostgres,
  type TcpProxy,
  waitFor,
} from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chargeEvent, type ProcessorHarness, startProcessor } from './harness.js'

/**
 * The faults of ingest's database-faults test (issue 16 §1), for the processor: accepted webhooks keep arriving
 * (~100/s) while PostgreSQL restarts, while every backend of the processor is killed, and while the connection is
 * black-holed. Afterwards every message has had its effects exactly once (inbox row, processed_events row, payment
 * fact), none went to the DLQ, the outbox (the `completed` reports) drains, and readiness is 200 again; while
 * black-holed, readiness is 503. The server is a private one behind a TCP proxy, so no other test file sees the faults.
 */
describe('processor through PostgreSQL faults', () => {
  let pg: PrivatePostgres
  let proxy: TcpProxy
  let h: ProcessorHarness
  let check: Sql

  beforeAll(async () => {
    pg = await startPrivatePostgres()
    proxy = pg.proxy
    h = await startProcessor({
      DATABASE_URL: pg.proxiedUrl,
      STALL_AFTER_MS: '1500',
      OUTBOX_RELAY_THREAD: 'false',
      // A failed attempt is retried within a second or so; 30 attempts outlast every fault below, so a message that
      // reaches the DLQ is one the processor lost track of, not one that ran out of attempts.
      WEBHOOK_RETRY_DELAYS_MS: '200,500,1000',
      WEBHOOK_MAX_ATTEMPTS: '30',
    })
    check = createSql({ url: pg.url, schema: h.env.schema.schema, max: 1 })
  }, 60_000)

  afterAll(async () => {
    await h?.close()
    await check?.end({ timeout: 1 })
    await pg?.stop()
  })

  /** ~100 messages/s until stopped; remembers the ids the broker confirmed (ingest's publish), with their event ids. */
  function load() {
    const sent: { id: string; eventId: string }[] = []
    let running = true
    const inFlight = new Set<Promise<void>>()
    const loop = (async () => {
      let n = 0
      while (running) {
        const event = chargeEvent(`order-${n++}`)
        const task = h.send(event).then(
          (id) => {
            sent.push({ id, eventId: event.eventId })
          },
          () => {},
        )
        inFlight.add(task)
        void task.finally(() => inFlight.delete(task))
        await sleep(10)
      }
    })()
    return {
      sent,
      async stop() {
        running = false
        await loop
        await Promise.all([...inFlight])
      },
    }
  }

  /** Deliveries the consumer sent to a retry tier: a fault that reached the handlers shows here. */
  async function retried(): Promise<number> {
    const text = (await h.app.inject({ method: 'GET', url: '/metrics' })).body
    return text
      .split('\n')
      .filter((l) => l.startsWith('consumer_messages_total{') && l.includes('outcome="retry"'))
      .filter((l) => l.includes(`queue="${processorWebhooksConsumer.queue}"`))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0)
  }

  /** True when ready; otherwise throws with the report, which waitFor's timeout message then shows. */
  const ready = async () => {
    const res = await h.app.inject({ method: 'GET', url: '/health/ready' })
    if (res.statusCode !== 200) throw new Error(`not ready: ${res.body}`)
    return true
  }

  /** Every message processed once, nothing dead-lettered, the outbox drained, readiness back at 200. */
  async function everyMessageProcessedOnce(sent: { id: string; eventId: string }[]) {
    const ids = sent.map((s) => s.id)
    const eventIds = sent.map((s) => s.eventId)
    const counts = async () => {
      const [row] = await check<{ inbox: number; processed: number; payments: number }[]>`
        select
          (select count(*)::int from inbox where consumer = ${processorWebhooksConsumer.queue}
            and message_id = any(${ids}::text[])) as inbox,
          (select count(*)::int from processed_events where id = any(${ids}::uuid[])) as processed,
          (select count(*)::int from payments where event_id = any(${eventIds}::text[])) as payments`
      return row as { inbox: number; processed: number; payments: number }
    }
    await waitFor(
      async () => {
        const seen = await counts()
        if (seen.processed !== ids.length) throw new Error(`${JSON.stringify(seen)} of ${ids.length}`)
        return true
      },
      {
        timeoutMs: 30_000,
        intervalMs: 250,
        message: `all ${ids.length} messages processed`,
      },
    )
    // The keys make a second effect impossible to store; the counts say none is missing and none came from elsewhere.
    expect(await counts()).toEqual({ inbox: ids.length, processed: ids.length, payments: ids.length })
    expect(await rabbitAdmin().getMessages(h.env.vhost.vhost, dlqName(processorWebhooksConsumer.queue), 1)).toEqual([])
    await waitFor(async () => (await check<{ n: number }[]>`select count(*)::int as n from outbox`)[0]?.n === 0, {
      timeoutMs: 20_000,
      message: 'the outbox drained',
    })
    await waitFor(ready, { timeoutMs: 15_000, message: 'ready again' })
  }

  it('processes every message once through a restart of PostgreSQL under load', async () => {
    await waitFor(ready, { message: 'ready before the fault' })
    const traffic = load()
    await sleep(500)
    await pg.restart(1500)
    await sleep(1500)
    await traffic.stop()
    // Enough traffic to matter, whatever a loaded machine manages around the fault.
    expect(traffic.sent.length).toBeGreaterThan(30)
    await everyMessageProcessedOnce(traffic.sent)
    // The restart did reach the handlers: messages failed while it lasted and were retried, not lost.
    expect(await retried()).toBeGreaterThan(0)
  }, 60_000)

  it("processes every message once after the processor's backends are killed, several times over", async () => {
    const traffic = load()
    for (let i = 0; i < 5; i++) {
      await sleep(300)
      await pg.terminateBackends('processor')
    }
    await sleep(500)
    await traffic.stop()
    await everyMessageProcessedOnce(traffic.sent)
  }, 60_000)

  it('is not ready while the connection is black-holed, and processes every message once after', async () => {
    const traffic = load()
    await sleep(300)
    proxy.blackhole()
    try {
      await waitFor(
        async () => {
          const res = await h.app.inject({ method: 'GET', url: '/health/ready' })
          return res.statusCode === 503 && ['timeout', 'error'].includes(res.json().checks?.postgres)
        },
        { timeoutMs: 10_000, message: 'not ready, naming postgres' },
      )
      await sleep(1000)
    } finally {
      proxy.restore()
    }
    await sleep(500)
    await traffic.stop()
    await everyMessageProcessedOnce(traffic.sent)
  }, 60_000)
})
