import { fileURLToPath } from 'node:url'
import type { ActivityRecordedV1 } from '@platform/contracts'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { type RunningProcess, rabbitAdmin, startTsProcess, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAnalyticsRepository } from '../src/queries/analytics-repository.js'
import { activityPublisher, consumerBound, DAY_MS, dayFromToday, event, TOKEN } from './harness.js'

/**
 * SIGKILL of the service (the real process, `src/server.ts`) while it writes a large batch, on each way in. The
 * transaction dies with the process: nothing of the batch is stored, the client (or RabbitMQ) sends it again, and
 * after the restart every event is stored exactly once and the rollups agree with the raw queries.
 */
const SERVER = fileURLToPath(new URL('../src/server.ts', import.meta.url))

let testEnv: ServiceTestEnv
let proc: RunningProcess | undefined
let url = ''

async function start() {
  proc = startTsProcess(SERVER, testEnv.env)
  await proc.waitForOutput(/analytics listening on http:\/\/[\d.:]+/, 30_000)
  url = /analytics listening on (http:\/\/[\d.:]+)/.exec(proc.output())?.[1] as string
  await waitFor(async () => (await fetch(`${url}/health/ready`)).status === 200, { timeoutMs: 30_000 })
}

const count = async (sql: string) => Number((await testEnv.schema.sql.unsafe(sql))[0]?.n)

/** Resolves once a transaction of the service holds a write lock on a partition of events in this schema. */
async function writing() {
  await waitFor(
    async () =>
      (
        await testEnv.schema.sql`
        select 1 from pg_locks l
        join pg_class c on c.oid = l.relation
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ${testEnv.schema.schema} and c.relname like 'events_p%'
          and l.mode = 'RowExclusiveLock' and l.granted`
      ).length > 0,
    { intervalMs: 2, timeoutMs: 30_000, message: 'a write in progress' },
  )
}

/** Events of 5,000 users over the last three days. */
const manyEvents = (n: number, prefix: string) => {
  const start = Date.now() - 3 * DAY_MS
  return Array.from({ length: n }, (_, i) =>
    event(`${prefix}-${i % 5000}`, new Date(start + Math.floor((i * 3 * DAY_MS) / n)).toISOString()),
  )
}

async function expectRollupsMatchRaw() {
  const repo = createAnalyticsRepository(testEnv.schema.sql)
  const [from, to] = [dayFromToday(-3), dayFromToday(0)]
  const dau = (await fetch(`${url}/v1/analytics/dau?from=${from}&to=${to}`).then((r) => r.json())) as unknown[]
  expect(dau).toEqual(await repo.raw.dau(from, to))
  for (const day of [dayFromToday(-2), dayFromToday(-1), dayFromToday(0)]) {
    const answer = (await fetch(`${url}/v1/analytics/retention?day=${day}`).then((r) => r.json())) as object
    expect(answer).toEqual({ day, ...(await repo.raw.retention(day)) })
  }
}

beforeAll(async () => {
  testEnv = await createServiceTestEnv('analytics', {
    PORT: '0',
    // info: the "listening on" line tells the port.
    LOG_LEVEL: 'info',
    ANALYTICS_INGEST_TOKEN: TOKEN,
    ANALYTICS_CONSUMER_BATCH_ROWS: '2000',
  })
})
afterAll(async () => {
  await proc?.kill('SIGKILL')
  await testEnv?.cleanup()
})

describe('SIGKILL during a large batch', () => {
  it('POST /v1/events: nothing half-stored; the retry after the restart stores each event once', async () => {
    await start()
    const batch = manyEvents(10_000, 'http')
    const post = (events: ActivityRecordedV1[]) =>
      fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events }),
      })
    const answer = post(batch).then(
      (r) => r.status,
      () => 'no answer',
    )
    await writing()
    await proc?.kill('SIGKILL')
    expect(await answer).toBe('no answer')
    // The transaction was rolled back with the connection: all or nothing, and here nothing.
    expect(await count('select count(*)::int as n from events')).toBe(0)
    expect(await count('select count(*)::int as n from user_day')).toBe(0)

    await start()
    const retry = await post(batch)
    expect(retry.status).toBe(200)
    expect(await retry.json()).toEqual({ received: 10_000, stored: 10_000, duplicates: 0 })
    expect(await count('select count(distinct event_id)::int as n from events')).toBe(10_000)
    await expectRollupsMatchRaw()
  }, 120_000)

  it('the activity consumer: every message is stored once after the restart', async () => {
    const events = manyEvents(30_000, 'bus')
    const feed = await activityPublisher(testEnv)
    await consumerBound(testEnv.vhost.vhost)
    const before = await count('select count(*)::int as n from events')
    try {
      // A backlog, so the consumer writes full batches of 2,000 when the kill comes.
      await proc?.kill('SIGKILL')
      for (let i = 0; i < events.length; i += 1000)
        await Promise.all(events.slice(i, i + 1000).map((e) => feed.publish(e)))
    } finally {
      await feed.close()
    }
    await start()
    await waitFor(async () => (await count('select count(*)::int as n from events')) > before, { timeoutMs: 30_000 })
    await writing()
    await proc?.kill('SIGKILL')
    const atKill = await count('select count(*)::int as n from events')
    expect(atKill - before).toBeLessThan(events.length)

    await start()
    await waitFor(async () => (await count('select count(*)::int as n from events')) === before + events.length, {
      timeoutMs: 90_000,
      message: 'every event stored',
    })
    await waitFor(async () => (await rabbitAdmin().queue(testEnv.vhost.vhost, 'analytics.activity')).messages === 0, {
      timeoutMs: 30_000,
    })
    expect(await count('select count(distinct event_id)::int as n from events')).toBe(before + events.length)
    expect(await count(`select count(*)::int as n from inbox where consumer = 'analytics.activity'`)).toBe(
      events.length,
    )
    await expectRollupsMatchRaw()
  }, 180_000)
})
