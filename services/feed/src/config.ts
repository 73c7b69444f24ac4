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
})

export type Config = Static<typeof ConfigSchema>

export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig(ConfigSchema, env)
}
