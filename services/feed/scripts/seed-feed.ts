import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createSql } from '@platform/db'
import { createRedis } from '@platform/http'
import { createLogger } from '@platform/logging'
import { migrateService } from '@platform/service'
import { loadServiceConfig } from '../src/config.js'
import { createHotLikesRebuild } from '../src/queues/hot-likes-rebuild.js'
import { createHotLikes } from '../src/timelines/hot-likes.js'
import { createTimelineStore } from '../src/timelines/timeline-store.js'
import type { GraphOptions } from './seed/graph.js'
import { buildGraph } from './seed/graph.js'
import { createProgress } from './seed/progress.js'
import { readMarker, seedFeed, tablesExist } from './seed/seed-feed.js'
import { warmTimelines } from './seed/warm.js'

/**
 * `npm run seed:feed` (part of `npm run seed`; docs/performance.md#seed): a million simulated users of the feed, their
 * follow graph, posts and likes, and the active users' feeds (user_feed and Redis), into the feed's schema
 * (DB_SCHEMA, default `feed`) and Redis (REDIS_URL, REDIS_PREFIX), as the service is configured. Applies the
 * feed's migrations first, so it runs before or beside the service. A second run writes nothing (the seed's marker,
 * table feed_seed); it only warms Redis again when the first run's warm-up did not finish, or with --rewarm.
 *
 *   npm run seed:feed -- [--users 1000000] [--avg-follows 40] [--posts-per-user 3] [--likes-per-user 10]
 *                        [--days 7] [--active-share 0.1] [--zipf 0.8] [--seed 1] [--rewarm]
 *
 * Large accounts: more followers than FANOUT_MAX_FOLLOWERS (the worker's setting, default 10,000).
 */
const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '1000000' },
    'avg-follows': { type: 'string', default: '40' },
    'posts-per-user': { type: 'string', default: '3' },
    'likes-per-user': { type: 'string', default: '10' },
    days: { type: 'string', default: '7' },
    'active-share': { type: 'string', default: '0.1' },
    zipf: { type: 'string', default: '0.8' },
    seed: { type: 'string', default: '1' },
    rewarm: { type: 'boolean', default: false },
  },
})

const fail = (message: string): never => {
  process.stderr.write(`seed:feed: ${message}\n`)
  process.exit(2)
}
const number = (name: keyof typeof values, check: (n: number) => boolean, what: string) => {
  const n = Number(values[name])
  if (!Number.isFinite(n) || !check(n)) fail(`--${name} must be ${what}: ${values[name]}`)
  return n
}

const config = loadServiceConfig()
const graphOptions: GraphOptions = {
  users: number('users', (n) => Number.isInteger(n) && n >= 2 && n <= 50_000_000, 'an integer from 2 to 50,000,000'),
  avgFollows: number('avg-follows', (n) => n >= 1 && n <= 5000, 'from 1 to 5,000'),
  postsPerUser: number('posts-per-user', (n) => n >= 0 && n <= 1000, 'from 0 to 1,000'),
  likesPerUser: number('likes-per-user', (n) => n >= 0 && n <= 1000, 'from 0 to 1,000'),
  days: number('days', (n) => n > 0 && n <= 365, 'more than 0 and at most 365'),
  activeShare: number('active-share', (n) => n > 0 && n <= 1, 'more than 0 and at most 1'),
  zipf: number('zipf', (n) => n > 0 && n < 1, 'between 0 and 1'),
  seed: number('seed', (n) => Number.isInteger(n), 'an integer'),
  now: Date.now(),
  largeAuthorFollowers: config.FANOUT_MAX_FOLLOWERS,
}

const progress = createProgress()
const sql = createSql({
  url: config.DATABASE_URL,
  schema: config.DB_SCHEMA,
  max: 2,
  applicationName: 'feed-seed',
  // COPY of tens of millions of rows and index builds: no statement deadline
  statementTimeoutMs: 0,
  idleInTransactionTimeoutMs: 0,
})
const redis = createRedis(config)
// the service's client gives up on a command after 500 ms; a seed's burst of pipelined writes may queue longer
redis.options.commandTimeout = 30_000
try {
  await migrateService(sql, config.DB_SCHEMA, fileURLToPath(new URL('../migrations/', import.meta.url)), (line) =>
    progress.log(line),
  )
  const result = await seedFeed({ sql, graph: graphOptions, progress })
  let graph = result.state === 'seeded' ? result.graph : undefined
  if (result.state === 'already-seeded') {
    const m = result.marker
    progress.log(
      `already seeded on ${m.seeded_at.toISOString()} (${m.counts.users} users, ${m.counts.follows} follows, ` +
        `${m.counts.posts} posts): nothing written. Another size needs another DB_SCHEMA.`,
    )
  } else {
    progress.log(
      `seeded in ${result.seconds.toFixed(0)} s: ${Object.entries(result.counts)
        .map(([t, n]) => `${t} ${n}`)
        .join(', ')}`,
    )
  }
  const marker = await readMarker(sql)
  const readModel = await tablesExist(sql, ['user_feed'])
  if (marker && readModel && (marker.redis_warmed_at === null || values.rewarm)) {
    // the graph again from the stored options (the same seed gives the same graph) when this run did not make it
    graph ??= buildGraph(marker.options)
    const store = createTimelineStore(redis, { size: config.FEED_TIMELINE_SIZE, activeDays: config.FEED_ACTIVE_DAYS })
    progress.phase(`warming Redis: ${graph.active.length} active users' timelines`)
    await warmTimelines(graph, store, progress)
    // The hot feed's buckets from the likes just seeded: the worker's own rebuild, which sets their marker.
    const rebuild = createHotLikesRebuild({
      sql,
      hotLikes: createHotLikes(redis),
      logger: createLogger({ service: 'feed-seed', level: 'silent' }),
      intervalMs: 0,
    })
    const hot = await rebuild.runOnce({ force: true })
    progress.done(
      hot ? 'redis hot-feed likes' : 'redis hot-feed likes (a worker is rebuilding them)',
      hot?.restored ?? 0,
    )
    await sql`update feed_seed set redis_warmed_at = now()`
  }
  progress.log('done')
} catch (error) {
  progress.log(`failed: ${(error as Error).message}`)
  process.exitCode = 1
} finally {
  await sql.end({ timeout: 5 })
  redis.disconnect()
}
