import { loadConfig, type Static, serviceEnv, Type } from '@platform/config'
import { type ClientRedirects, parseClientRedirects } from './auth/client-redirects.js'
import { DEFAULT_PROVIDERS_FILE, loadProviders, type ProviderConfig } from './auth/providers-config.js'

/**
 * The feed service's environment (docs/configuration.md#feed): the variables every service reads, and the feed's
 * own, read and validated once at start. Everything below server.ts receives it from here.
 */
export const ConfigSchema = Type.Object({
  ...serviceEnv({ port: 3002, schema: 'feed' }),
  /** The access tokens' signature algorithm (signing-keys.ts): only this one is accepted. */
  FEED_JWT_ALG: Type.Union([Type.Literal('EdDSA'), Type.Literal('ES256')], { default: 'EdDSA' }),
  /** A JWK Set of private keys; the first signs, the others verify (rotation). Unset outside production: generated. */
  FEED_JWT_KEYS: Type.Optional(Type.String()),
  /** The `iss` of every access token, and the only one accepted: the feed's public base URL. */
  FEED_JWT_ISSUER: Type.String({ default: 'http://127.0.0.1:3002', minLength: 1 }),
  /** The `aud` of every access token, and the only one accepted. */
  FEED_JWT_AUDIENCE: Type.String({ default: 'feed-api', minLength: 1 }),
  /** Access-token lifetime: how long a revoked session's last token keeps working. */
  FEED_ACCESS_TOKEN_TTL_S: Type.Integer({ default: 900, minimum: 30, maximum: 3600 }),
  /** A refresh token not used this long expires (idle lifetime); each refresh starts a new one. 30 days. */
  FEED_REFRESH_IDLE_TTL_S: Type.Integer({ default: 2_592_000, minimum: 60 }),
  /** A session ends this long after its login, however often it is refreshed (absolute lifetime). 90 days. */
  FEED_REFRESH_ABSOLUTE_TTL_S: Type.Integer({ default: 7_776_000, minimum: 60 }),
  /**
   * A token presented again less than this long after its rotation, whose successor is still unused, is refused
   * without revoking its session: two racing refreshes of one client are not a theft (sessions.ts). 0: no grace.
   */
  FEED_REFRESH_REUSE_GRACE_S: Type.Integer({ default: 10, minimum: 0, maximum: 60 }),
  /** How often ended sessions and expired rotated refresh tokens are deleted (session-cleanup.ts). */
  FEED_SESSION_CLEANUP_INTERVAL_MS: Type.Integer({ default: 3_600_000, minimum: 1000 }),
  /** Requests per client address and window to each of the login, callback, token and logout endpoints. */
  FEED_AUTH_RATE_LIMIT_MAX: Type.Integer({ default: 60, minimum: 1 }),
  FEED_AUTH_RATE_LIMIT_WINDOW_MS: Type.Integer({ default: 60_000, minimum: 1000 }),
  /** How long a command's response is replayed for its Idempotency-Key; the draft and the API promise 24 h at least. */
  FEED_IDEMPOTENCY_KEY_TTL_S: Type.Integer({ default: 86_400, minimum: 86_400 }),
  /** How often expired idempotency records are deleted (on one instance at a time). */
  FEED_IDEMPOTENCY_PRUNE_INTERVAL_MS: Type.Integer({ default: 3_600_000, minimum: 1000 }),
  /** Commands per user and window (all command routes share one budget per user, across instances: Redis). */
  FEED_COMMAND_RATE_LIMIT_MAX: Type.Integer({ default: 120, minimum: 1 }),
  FEED_COMMAND_RATE_LIMIT_WINDOW_MS: Type.Integer({ default: 60_000, minimum: 1000 }),

  // Login through identity providers (auth/providers-config.ts, docs/feed.md#login)
  /** The identity providers (JSON); the checked-in default holds only the development IdP. */
  FEED_AUTH_PROVIDERS_FILE: Type.String({ default: DEFAULT_PROVIDERS_FILE, minLength: 1 }),
  /** The same document inline (containers); when set, the file is not read. */
  FEED_AUTH_PROVIDERS: Type.Optional(Type.String()),
  /**
   * The client redirect_uri values a login may return to, exactly (auth/client-redirects.ts). Outside production
   * FEED_PUBLIC_URL/ (the feed's own web page) is on the list too; production lists it here when it serves the page.
   */
  FEED_AUTH_REDIRECT_ALLOWLIST: Type.String({ default: '' }),
  /** The feed's public base URL: the callbacks registered at the providers are <this>/v1/auth/<name>/callback. */
  FEED_PUBLIC_URL: Type.String({ default: 'http://127.0.0.1:3002', pattern: '^https?://[^/?#]+$' }),
  /** The development IdP's issuer (src/dev-idp); replaces the issuer of the providers' `development` entry. */
  FEED_DEV_IDP_URL: Type.Optional(Type.String({ pattern: '^https?://[^/?#]+$' })),
  /** How long a started login may take to come back to its callback (its state lives in Redis that long). */
  FEED_AUTH_LOGIN_TTL_S: Type.Integer({ default: 600, minimum: 60, maximum: 3600 }),
  /** Deadline of each call to a provider (discovery, token exchange, user info): past it the login gets a 502. */
  FEED_AUTH_PROVIDER_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100, maximum: 60_000 }),

  // -- the read model and the fan-out worker (docs/feed.md#fan-out-worker)
  /** Authors with more followers than this are not fanned out: their posts are merged into feeds at read time. */
  FANOUT_MAX_FOLLOWERS: Type.Integer({ default: 10_000, minimum: 0 }),
  /** Followers per fan-out batch message (stage 2): one INSERT and one Redis pipeline each. */
  FEED_FANOUT_BATCH_SIZE: Type.Integer({ default: 1000, minimum: 1, maximum: 5000 }),
  /** Entries kept per Redis timeline (and per large account's recent-posts list), newest first. */
  FEED_TIMELINE_SIZE: Type.Integer({ default: 800, minimum: 1, maximum: 10_000 }),
  /** A user who has not read their feed for this many days gets no Redis writes; their next read rebuilds it. */
  FEED_ACTIVE_DAYS: Type.Integer({ default: 30, minimum: 1 }),
  /** How far back the personal feed reaches: older user_feed entries are deleted, and no page shows older posts. */
  FEED_RETENTION_DAYS: Type.Integer({ default: 90, minimum: 1, maximum: 3650 }),
  /** How often the worker deletes the user_feed entries past FEED_RETENTION_DAYS (and old fan-out jobs). */
  FEED_RETENTION_PRUNE_INTERVAL_MS: Type.Integer({ default: 3_600_000, minimum: 1000 }),
  /** How often the worker checks that Redis still holds the hot feed's like buckets, and rebuilds them from likes. */
  FEED_HOT_REBUILD_INTERVAL_MS: Type.Integer({ default: 10_000, minimum: 100 }),
  /** A follow copies this many of the followee's newest posts into the follower's feed. */
  FEED_BACKFILL_POSTS: Type.Integer({ default: 50, minimum: 0, maximum: 800 }),
  /** Retry tiers of the worker's queues (comma-separated ms; the last repeats) and attempts before the DLQ. */
  FEED_WORKER_RETRY_DELAYS_MS: Type.String({ default: '1000,5000,30000,120000,600000', pattern: '^\\d+(,\\d+)*$' }),
  FEED_WORKER_MAX_ATTEMPTS: Type.Integer({ default: 8, minimum: 1, maximum: 100 }),
  /** The worker's own port, for /metrics and /health/* only (its PORT is the API's); 0: any free port. */
  FEED_WORKER_PORT: Type.Integer({ default: 3006, minimum: 0, maximum: 65535 }),

  // -- the feeds' reads (docs/feed.md#personal-feed, #hot-feed)
  /** The hot feed's cache TTL: how long a ranking is served before one instance computes the next. */
  FEED_HOT_CACHE_TTL_S: Type.Integer({ default: 30, minimum: 1, maximum: 3600 }),
  /** How long a hot-feed ranking snapshot lives after its last page read (a cursor of an older one gets 410). */
  FEED_HOT_SNAPSHOT_TTL_S: Type.Integer({ default: 600, minimum: 10, maximum: 86_400 }),
  /** Posts per hot-feed ranking: how far the hot feed can be scrolled. */
  FEED_HOT_SIZE: Type.Integer({ default: 500, minimum: 1, maximum: 10_000 }),
  /** The recompute lock's lease: longer than any recompute; only a holder that died or hangs lets it run out. */
  FEED_HOT_LOCK_LEASE_MS: Type.Integer({ default: 10_000, minimum: 100, maximum: 120_000 }),
  /** How long a request finding no ranking at all waits for another instance's recompute before a 503. */
  FEED_HOT_LOCK_WAIT_MS: Type.Integer({ default: 3000, minimum: 100, maximum: 60_000 }),
  /** How long an instance reuses a hot-feed page it read (0: never); a new ranking shows this much later. */
  FEED_HOT_PAGE_MEMO_MS: Type.Integer({ default: 1000, minimum: 0, maximum: 10_000 }),
})

export type Config = Static<typeof ConfigSchema> & {
  /** The identity providers by name (the path segment of /v1/auth/<name>/login). */
  authProviders: Map<string, ProviderConfig>
  /** FEED_AUTH_REDIRECT_ALLOWLIST, parsed. */
  clientRedirects: ClientRedirects
}

/** Throws a ConfigError naming the variable (or the providers document's entry) that is wrong; never a secret. */
export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const config = loadConfig(ConfigSchema, env)
  const production = config.NODE_ENV === 'production'
  return {
    ...config,
    authProviders: loadProviders(config, { env, production, devIdpUrl: config.FEED_DEV_IDP_URL }),
    clientRedirects: parseClientRedirects(
      // Outside production the feed's own web page (GET /, src/web) may always receive a login's tokens.
      production
        ? config.FEED_AUTH_REDIRECT_ALLOWLIST
        : `${config.FEED_AUTH_REDIRECT_ALLOWLIST} ${config.FEED_PUBLIC_URL}/`,
      { production },
    ),
  }
}
