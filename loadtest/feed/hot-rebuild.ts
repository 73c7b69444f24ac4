/**
 * The hot feed's bucket rebuild from `likes` (services/feed/src/queues/hot-likes-rebuild.ts, docs/feed.md#hot-feed)
 * on the seeded schema: likes/s of a whole rebuild into an empty Redis prefix of its own, beside the baseline of
 * reading the same likes through the same cursor without writing them anywhere. Alternating, ROUNDS rounds.
 */
import { createRequire } from 'node:module'
import type { Sql } from '@platform/db'
import { createLogger } from '@platform/logging'
import { testUrls } from '@platform/testing'
import { forEachWindowLike } from '../../services/feed/src/projections/select-window-likes.js'
import { createHotLikesRebuild } from '../../services/feed/src/queues/hot-likes-rebuild.js'
import { createHotLikes } from '../../services/feed/src/timelines/hot-likes.js'
import { HOT_WINDOW_HOURS, hourOf } from '../../services/feed/src/timelines/keys.js'

type FeedRedis = Parameters<typeof createHotLikes>[0]
interface PlainRedis {
  scan(...args: (string | number)[]): Promise<[string, string[]]>
  del(...keys: string[]): Promise<number>
  disconnect(): void
}

// ioredis comes with @platform/testing: resolved from there, no dependency added
const { Redis } = createRequire(new URL('../../packages/testing/package.json', import.meta.url))('ioredis') as {
  Redis: new (url: string, options?: { keyPrefix?: string }) => PlainRedis
}

export interface HotRebuildFigures {
  likes: number
  /** Median likes/s of a whole rebuild (read, Redis writes, marker). */
  rebuild: number
  /** Median likes/s of the cursor alone. */
  cursor: number
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0

/** Every key under `prefix` (a run's timelines and caches, a rebuild's buckets), by SCAN over it. */
export async function clearRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(testUrls().redisUrl)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await redis.del(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

export async function measureHotRebuild(sql: Sql, rounds = 3): Promise<HotRebuildFigures> {
  const prefix = `bench_hot_rebuild_${Math.random().toString(16).slice(2, 10)}:`
  const redis = new Redis(testUrls().redisUrl, { keyPrefix: prefix })
  const rebuild = createHotLikesRebuild({
    sql,
    hotLikes: createHotLikes(redis as unknown as FeedRedis),
    logger: createLogger({ service: 'bench', level: 'silent' }),
    intervalMs: 0,
  })
  const since = new Date((hourOf(new Date()) - HOT_WINDOW_HOURS) * 3_600_000)
  const rebuilds: number[] = []
  const cursors: number[] = []
  let likes = 0
  try {
    for (let round = 0; round < rounds; round++) {
      let read = 0
      let started = performance.now()
      await sql.begin(async (tx) => {
        await forEachWindowLike(tx, since, 1000, async (page) => {
          read += page.length
        })
      })
      cursors.push(read / ((performance.now() - started) / 1000))
      await clearRedisPrefix(prefix)
      started = performance.now()
      const report = await rebuild.runOnce({ force: true })
      if (!report) throw new Error('another rebuild held the lock')
      rebuilds.push(report.likes / ((performance.now() - started) / 1000))
      likes = report.likes
    }
  } finally {
    redis.disconnect()
    await clearRedisPrefix(prefix)
  }
  return { likes, rebuild: median(rebuilds), cursor: median(cursors) }
}
