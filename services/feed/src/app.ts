import type { ServiceApp } from '@platform/http'
import { createService, type ServiceOverrides } from '@platform/service'
import { createAccessTokens } from './auth/access-tokens.js'
import { createAuthenticate } from './auth/authenticate.js'
import { registerJwksRoute } from './auth/jwks-route.js'
import { registerIdentityLogin } from './auth/login-feature.js'
import { createSessionCleanup } from './auth/session-cleanup.js'
import { createSessions } from './auth/sessions.js'
import { loadSigningKeys } from './auth/signing-keys.js'
import { registerTokenRoutes } from './auth/token-routes.js'
import type { Config } from './config.js'
import { registerFeedApi } from './feed-api.js'
import { registerFeedReads } from './queries/feed-routes.js'
import { createUsersRepository } from './users/users-repository.js'
import { registerWebClient } from './web/web-client.js'

export interface FeedOverrides extends ServiceOverrides {
  /** The clock of session and refresh-token expiry (tests move it instead of waiting). */
  now?: () => Date
}

/**
 * The feed service (docs/feed.md): login through identity providers, access and refresh tokens, and the command
 * side of posts, likes and follows, whose events go through the outbox to the `feed` and `activity` exchanges.
 * Dependencies: postgres, rabbitmq, redis. createService closes the connections it opened after the onClose hooks
 * of what is registered here.
 */
export async function buildApp(config: Config, overrides: FeedOverrides = {}): Promise<ServiceApp> {
  const { now, ...serviceOverrides } = overrides
  const keys = await loadSigningKeys({
    algorithm: config.FEED_JWT_ALG,
    keys: config.FEED_JWT_KEYS,
    production: config.NODE_ENV === 'production',
  })
  const { app, runtime } = await createService({
    service: 'feed',
    config,
    migrations: new URL('../migrations/', import.meta.url),
    redis: true,
    // The scheme routes behind `authenticate` name (BEARER_SECURITY): the feed's own access tokens.
    openapi: {
      description: 'Social feed: SSO login, access and refresh tokens, posts, likes and follows (docs/feed.md).',
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
    ...serviceOverrides,
  })
  try {
    if (keys.ephemeral) {
      runtime.logger.warn(
        { kid: keys.active.kid },
        'DEVELOPMENT: access tokens are signed with a key generated at start (FEED_JWT_KEYS is unset); they die with this process',
      )
    }
    const tokens = createAccessTokens({
      keys,
      issuer: config.FEED_JWT_ISSUER,
      audience: config.FEED_JWT_AUDIENCE,
      ttlSeconds: config.FEED_ACCESS_TOKEN_TTL_S,
    })
    const authenticate = createAuthenticate(tokens)
    const users = createUsersRepository(runtime.sql)
    const sessions = createSessions({
      sql: runtime.sql,
      tokens,
      logger: runtime.logger,
      registry: runtime.registry,
      idleTtlSeconds: config.FEED_REFRESH_IDLE_TTL_S,
      absoluteTtlSeconds: config.FEED_REFRESH_ABSOLUTE_TTL_S,
      reuseGraceSeconds: config.FEED_REFRESH_REUSE_GRACE_S,
      ...(now ? { now } : {}),
    })
    await registerJwksRoute(app, tokens)
    // Features register below, each with what it needs of { runtime, config, tokens, authenticate, users, sessions }.

    // -- sessions and refresh tokens (POST /v1/auth/token, /v1/auth/logout)
    await registerTokenRoutes(app, { sessions, authenticate, config })
    const cleanup = createSessionCleanup({
      sql: runtime.sql,
      logger: runtime.logger,
      intervalMs: config.FEED_SESSION_CLEANUP_INTERVAL_MS,
      ...(now ? { now } : {}),
    })
    app.addHook('onReady', () => cleanup.start())
    app.addHook('onClose', () => cleanup.stop())

    // -- login through identity providers (GET /v1/auth/:provider/login, /callback, POST /v1/auth/:provider/link)
    await registerIdentityLogin(app, { runtime, config, authenticate, users, sessions })

    // -- commands and reads: posts, likes, follows, profiles (Idempotency-Key)
    await registerFeedApi(app, { runtime, config, authenticate, users })

    // -- the feeds: GET /v1/feed (personal), GET /v1/feed/hot
    await registerFeedReads(app, { runtime, config, authenticate })

    // -- the web client: GET / and /web/* (docs/feed.md#web-client)
    await registerWebClient(app, config)
  } catch (error) {
    await app.close()
    throw error
  }
  return app
}
