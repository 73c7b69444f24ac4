import { randomUUID } from 'node:crypto'
import {
  type ActivityRecordedV1,
  activityBatch,
  activityRecorded,
  analyticsActivityBatchConsumer,
  analyticsActivityConsumer,
} from '@platform/contracts'
import type { Sql } from '@platform/db'
import type { ServiceApp } from '@platform/http'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { type Broker, connectBroker, createPublisher, type Publisher } from '@platform/messaging'
import { rabbitAdmin, waitFor } from '@platform/testing'
import { buildApp } from '../src/app.js'
import { loadServiceConfig } from '../src/config.js'
import { createAnalyticsRepository } from '../src/queries/analytics-repository.js'
import type { Cohort, DayUsers, Retention } from '../src/queries/answers.js'
import { hasSketches } from '../src/rollup/rollup.js'

export const TOKEN = 'test-ingest-token-0123456789'
export const DAY_MS = 86_400_000

/** "YYYY-MM-DD" of `n` days after today (UTC); negative for days before. */
export const dayFromToday = (n: number) => new Date(Date.now() + n * DAY_MS).toISOString().slice(0, 10)
export const addDays = (day: string, n: number) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10)

/** An event of `userId` at `performedAt` (ISO 8601), with a fresh id unless given. */
export function event(
  userId: string,
  performedAt: string,
  extra: Partial<ActivityRecordedV1> = {},
): ActivityRecordedV1 {
  return { eventId: randomUUID(), userId, kind: 'login', performedAt, ...extra }
}

/** What app.inject resolves with, as far as the tests read it. */
export interface Injected {
  statusCode: number
  headers: Record<string, unknown>
  body: string
  json<T = Record<string, unknown>>(): T
}

export interface AnalyticsHarness {
  app: ServiceApp
  env: ServiceTestEnv
  repo: ReturnType<typeof createAnalyticsRepository>
  post(events: ActivityRecordedV1[], token?: string): Promise<Injected>
  /** GET of the API, expecting a 200. */
  get<T>(url: string): Promise<T>
  dau(from: string, to: string): Promise<DayUsers[]>
  retention(day: string, query?: string): Promise<Retention>
  cohorts(from: string, to: string): Promise<Cohort[]>
  /** Removes every event and rollup row (between property runs). */
  truncate(): Promise<void>
  close(): Promise<void>
}

/** The analytics service as buildApp makes it, in a schema and vhost of its own, with an ingest token. */
export async function startAnalytics(
  overrides: Record<string, string> = {},
  options: {
    /** Runs on the migrated schema before the service starts (a schema made as another database would make it). */
    beforeStart?: (sql: Sql) => Promise<unknown>
  } = {},
): Promise<AnalyticsHarness> {
  const env = await createServiceTestEnv('analytics', {
    // TEST_LOG_LEVEL=error shows why a request failed (the 5xx's cause is logged, not answered).
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ANALYTICS_INGEST_TOKEN: TOKEN,
    ANALYTICS_CONSUMER_BATCH_WAIT_MS: '20',
    ...overrides,
  })
  if (options.beforeStart) {
    // The service migrates its schema at start: started once and closed, then changed, then started for the test.
    const first = await buildApp(loadServiceConfig(env.env), { maintenanceJob: false })
    await first.ready()
    await first.close()
    await options.beforeStart(env.schema.sql)
  }
  const app = await buildApp(loadServiceConfig(env.env), { maintenanceJob: false })
  await app.ready()
  const repo = createAnalyticsRepository(env.schema.sql)
  async function get<T>(url: string): Promise<T> {
    const res = await app.inject({ method: 'GET', url })
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`)
    return res.json() as T
  }
  return {
    app,
    env,
    repo,
    post: (events, token = TOKEN) =>
      app.inject({
        method: 'POST',
        url: '/v1/events',
        headers: { authorization: `Bearer ${token}` },
        payload: { events },
      }),
    get,
    dau: (from, to) => get(`/v1/analytics/dau?from=${from}&to=${to}`),
    retention: (day, query = '') => get(`/v1/analytics/retention?day=${day}${query}`),
    cohorts: (from, to) => get(`/v1/analytics/retention/cohorts?from=${from}&to=${to}`),
    async truncate() {
      await env.schema.sql`truncate events, user_day, daily_activity, user_activity, inbox`
      if (await hasSketches(env.schema.sql)) await env.schema.sql`truncate daily_user_sketches`
    },
    async close() {
      await app.close()
      await env.cleanup()
    },
  }
}

/** A publisher standing in for feed (or any producer) on the harness's vhost. */
export async function activityPublisher(env: ServiceTestEnv): Promise<{
  publish(body: ActivityRecordedV1, messageId?: string): Promise<string>
  /** One activity.batch.v1 message of `events`. */
  publishBatch(events: ActivityRecordedV1[], messageId?: string): Promise<string>
  close(): Promise<void>
}> {
  const broker: Broker = connectBroker({ url: env.vhost.amqpUrl, name: 'test-feed' })
  const publisher: Publisher = createPublisher(broker, { exchanges: [activityRecorded.exchange] })
  return {
    async publish(body, messageId = randomUUID()) {
      await publisher.publishMessage(activityRecorded, body, { messageId })
      return messageId
    },
    async publishBatch(events, messageId = randomUUID()) {
      await publisher.publishMessage(activityBatch, { events }, { messageId })
      return messageId
    },
    async close() {
      await publisher.close()
      await broker.close()
    },
  }
}

/** The consumers declare their queues once connected: messages published before that would be dropped. */
export async function consumerBound(vhost: string): Promise<void> {
  for (const { queue } of [analyticsActivityConsumer, analyticsActivityBatchConsumer]) {
    await waitFor(async () => {
      const bindings = await rabbitAdmin().call<{ source: string }[]>(
        'GET',
        `/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}/bindings`,
      )
      return bindings.some((b) => b.source === 'activity')
    })
  }
}
