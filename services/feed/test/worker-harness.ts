import { randomUUID } from 'node:crypto'
import { createLogger } from '@platform/logging'
import { createServiceRuntime, type ServiceRuntime } from '@platform/service'
import { rabbitAdmin, waitFor } from '@platform/testing'
import { v7 as uuidv7 } from 'uuid'
import { startFeedWorker } from '../src/queues/feed-worker.js'
import { createTimelineStore, type TimelineStore } from '../src/timelines/timeline-store.js'
import { command, type FeedHarness, startFeed, type TestUser } from './commands-harness.js'

/**
 * The feed's API (commands-harness.ts, in this process) and its worker as `worker.ts` makes it: a runtime of its
 * own on the same schema, vhost and Redis prefix (another process in production; here in this one, or spawned by
 * the crash test), short retry tiers. Commands go through the API, events through the real broker.
 */
export interface WorkerHarness extends FeedHarness {
  /** The worker's runtime (undefined when the test runs the worker as a process of its own). */
  workerRuntime: ServiceRuntime<true> | undefined
  store: TimelineStore
  /** Makes `userId` active: their Redis timeline exists (complete, empty), as a read's rebuild leaves it. */
  activate(userId: string): Promise<void>
  post(user: TestUser, text?: string): Promise<string>
  follow(follower: TestUser, followeeId: string): Promise<void>
  unfollow(follower: TestUser, followeeId: string): Promise<void>
  /** The post ids in `userId`'s user_feed, newest first. */
  feedOf(userId: string): Promise<string[]>
  /** The post ids of `userId`'s Redis timeline (undefined when it is not complete), newest first. */
  timelineOf(userId: string): Promise<string[] | undefined>
  /** `count` users made in SQL, each following `followeeId` (follower_count kept): for large fan-outs. */
  addFollowers(followeeId: string, count: number): Promise<string[]>
  close(): Promise<void>
}

export const WORKER_TEST_ENV = {
  FEED_WORKER_RETRY_DELAYS_MS: '100,200',
  FEED_WORKER_MAX_ATTEMPTS: '3',
  // the commands' budget would stop a test that posts a lot
  FEED_COMMAND_RATE_LIMIT_MAX: '10000',
}

export async function startWorkerHarness(
  overrides: Record<string, string> = {},
  options: { inProcessWorker?: boolean } = {},
): Promise<WorkerHarness> {
  const feed = await startFeed({ ...WORKER_TEST_ENV, ...overrides })
  const { config } = feed
  let workerRuntime: ServiceRuntime<true> | undefined
  let worker: { stop(): Promise<void> } | undefined
  if (options.inProcessWorker !== false) {
    workerRuntime = await createServiceRuntime({
      service: 'feed-worker',
      config,
      migrations: new URL('../migrations/', import.meta.url),
      redis: true,
      logger: createLogger({ service: 'feed-worker', level: 'silent' }),
    })
    await workerRuntime.outboxRelay.start()
    worker = await startFeedWorker({ runtime: workerRuntime, config })
  }
  const redisOwner = workerRuntime ?? (await redisRuntime(feed))
  const store = createTimelineStore(redisOwner.redis, {
    size: config.FEED_TIMELINE_SIZE,
    activeDays: config.FEED_ACTIVE_DAYS,
  })
  const { sql } = feed.env.schema

  async function send(user: TestUser, method: 'PUT' | 'DELETE', url: string): Promise<void> {
    const res = await feed.app.inject({ method, url, headers: command(user) })
    if (res.statusCode !== 200) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
  }

  return {
    ...feed,
    workerRuntime,
    store,
    async activate(userId) {
      await store.openTimeline(userId)
      await store.completeTimeline(userId, [])
    },
    async post(user, text = `post ${randomUUID()}`) {
      const res = await feed.app.inject({ method: 'POST', url: '/v1/posts', headers: command(user), payload: { text } })
      if (res.statusCode !== 201) throw new Error(`POST /v1/posts: ${res.statusCode} ${res.body}`)
      return (res.json() as { id: string }).id
    },
    follow: (follower, followeeId) => send(follower, 'PUT', `/v1/users/${followeeId}/follow`),
    unfollow: (follower, followeeId) => send(follower, 'DELETE', `/v1/users/${followeeId}/follow`),
    async feedOf(userId) {
      const rows = await sql<{ post_id: string }[]>`
        select post_id from user_feed where user_id = ${userId} order by post_id desc`
      return rows.map((r) => r.post_id)
    },
    async timelineOf(userId) {
      const page = await store.readTimeline(userId, { limit: 10_000 })
      return page.state === 'complete' ? page.entries.map((e) => e.postId) : undefined
    },
    async addFollowers(followeeId, count) {
      const ids = Array.from({ length: count }, () => uuidv7())
      const tag = randomUUID().slice(0, 8)
      await sql`
        insert into users (id, handle, name)
        select id, 'f' || ${tag} || '_' || n, 'follower ' || n
        from unnest(${ids}::uuid[]) with ordinality as t(id, n)`
      await sql`
        insert into follows (follower_id, followee_id, created_at)
        select id, ${followeeId}, now() - n * interval '1 millisecond'
        from unnest(${ids}::uuid[]) with ordinality as t(id, n)`
      await sql`update users set follower_count = follower_count + ${count} where id = ${followeeId}`
      await sql`update users set following_count = 1 where id = any(${ids}::uuid[])`
      return ids
    },
    async close() {
      await worker?.stop()
      await workerRuntime?.close()
      if (redisOwner !== workerRuntime) await redisOwner.close()
      await feed.close()
    },
  }
}

/** A Redis connection for a test whose worker runs in another process. */
async function redisRuntime(
  feed: FeedHarness,
): Promise<{ redis: ServiceRuntime<true>['redis']; close(): Promise<void> }> {
  const { createRedis } = await import('@platform/http')
  const redis = createRedis(feed.config)
  return { redis, close: async () => void redis.disconnect() }
}

/** The worker's queues are declared once it is connected: events published before that would go nowhere. */
export async function workerQueuesBound(vhost: string): Promise<void> {
  for (const queue of ['feed.fanout', 'feed.fanout-batch', 'feed.follows', 'feed.likes']) {
    await waitFor(
      async () => {
        const bindings = await rabbitAdmin()
          .call<{ source: string }[]>(
            'GET',
            `/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}/bindings`,
          )
          .catch(() => [])
        return bindings.some((b) => b.source === 'feed')
      },
      { timeoutMs: 30_000, message: `${queue} bound to the feed exchange` },
    )
  }
}

/** Waits until `check` holds (a read model converging), with a message naming what was awaited. */
export function eventually<T>(check: () => Promise<T | undefined | false>, message: string, timeoutMs = 20_000) {
  return waitFor(check, { timeoutMs, message })
}
