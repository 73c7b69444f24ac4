import { loadConfig, type Static, serviceEnv, Type } from '@platform/config'

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
  /** How long a command's response is replayed for its Idempotency-Key; the draft and the API promise 24 h at least. */
  FEED_IDEMPOTENCY_KEY_TTL_S: Type.Integer({ default: 86_400, minimum: 86_400 }),
  /** How often expired idempotency records are deleted (on one instance at a time). */
  FEED_IDEMPOTENCY_PRUNE_INTERVAL_MS: Type.Integer({ default: 3_600_000, minimum: 1000 }),
  /** Commands per user and window (all command routes share one budget per user, across instances: Redis). */
  FEED_COMMAND_RATE_LIMIT_MAX: Type.Integer({ default: 120, minimum: 1 }),
  FEED_COMMAND_RATE_LIMIT_WINDOW_MS: Type.Integer({ default: 60_000, minimum: 1000 }),
})

export type Config = Static<typeof ConfigSchema>

export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig(ConfigSchema, env)
}
