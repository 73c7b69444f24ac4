import { exchanges } from '@platform/contracts'
import { createCoalescingCounter, rateLimitNamespace, type ServiceApp } from '@platform/http'
import { declareExchanges } from '@platform/messaging'
import type { ServiceRuntime } from '@platform/service'
import type { onRequestAsyncHookHandler } from 'fastify'
import type { CommandDeps } from './commands/command-deps.js'
import { registerCommandRoutes } from './commands/routes.js'
import type { Config } from './config.js'
import { createFollowsRepository } from './follows/follows-repository.js'
import { createIdempotency } from './idempotency/idempotency.js'
import { createIdempotencyPruner } from './idempotency/prune.js'
import { createPostsRepository } from './posts/posts-repository.js'
import { registerQueryRoutes } from './queries/routes.js'
import type { UsersRepository } from './users/users-repository.js'

export type FeedApiConfig = Pick<
  Config,
  | 'DB_SCHEMA'
  | 'REDIS_PREFIX'
  | 'FEED_IDEMPOTENCY_KEY_TTL_S'
  | 'FEED_IDEMPOTENCY_PRUNE_INTERVAL_MS'
  | 'FEED_COMMAND_RATE_LIMIT_MAX'
  | 'FEED_COMMAND_RATE_LIMIT_WINDOW_MS'
>

export interface FeedApiOptions {
  runtime: ServiceRuntime<true>
  config: FeedApiConfig
  authenticate: onRequestAsyncHookHandler
  users: UsersRepository
}

/**
 * The command side of posts, likes and follows and its reads (docs/feed.md#commands), wired onto the app: the
 * exchanges its outbox publishes to, the repositories, idempotency and its pruning job, the per-user rate limit,
 * the routes. The pruning job stops in an onClose hook, before the connections close.
 */
export async function registerFeedApi(app: ServiceApp, options: FeedApiOptions): Promise<void> {
  const { runtime, config } = options
  const { sql, redis } = runtime
  // The relay publishes to these; they must exist before the first row is published (declared again on reconnect).
  await runtime.publisher.channel.addSetup((ch: Parameters<typeof declareExchanges>[0]) =>
    declareExchanges(ch, [exchanges.feed, exchanges.activity, exchanges.eventlog]),
  )
  const posts = createPostsRepository(sql)
  const follows = createFollowsRepository(sql)
  const deps: CommandDeps = {
    idempotency: createIdempotency(sql, { ttlSeconds: config.FEED_IDEMPOTENCY_KEY_TTL_S, schema: config.DB_SCHEMA }),
    posts,
    follows,
    users: options.users,
    eventLog: runtime.eventLog,
  }
  await registerCommandRoutes(app, {
    deps,
    authenticate: options.authenticate,
    rateCounter: createCoalescingCounter(redis, rateLimitNamespace(config.REDIS_PREFIX, redis)),
    rateLimit: { max: config.FEED_COMMAND_RATE_LIMIT_MAX, windowMs: config.FEED_COMMAND_RATE_LIMIT_WINDOW_MS },
  })
  await registerQueryRoutes(app, { posts, follows, users: options.users, authenticate: options.authenticate })

  const pruner = createIdempotencyPruner({ sql, schema: config.DB_SCHEMA, logger: runtime.logger })
  app.addHook('onReady', async () => pruner.start(config.FEED_IDEMPOTENCY_PRUNE_INTERVAL_MS))
  app.addHook('onClose', async () => pruner.stop())
}
