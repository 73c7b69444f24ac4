import { loadConfig, type Static, serviceEnv, Type } from '@platform/config'

/** Comma-separated delays in ms, one per retry tier. */
const DELAYS = '^\\d+(,\\d+)*$'

/**
 * The processor's configuration, read and validated once, at start, by loadServiceConfig: the variables every
 * service reads, and the webhook processing settings. Everything below server.ts receives it from here.
 */
export const ConfigSchema = Type.Object({
  ...serviceEnv({ port: 3004, schema: 'processor' }),
  /** Where `order.paid` notifications go; empty: no call is made. */
  DOWNSTREAM_URL: Type.String({ default: '', pattern: '^(https?://.+)?$' }),
  DOWNSTREAM_TIMEOUT_MS: Type.Integer({ default: 5000, minimum: 1 }),
  /** Simulated processing time of non-payment events: "ms" or "min-max" (random in between). */
  PROCESSING_DELAY_MS: Type.String({ default: '2000-5000', pattern: '^\\d+(-\\d+)?$' }),
  WEBHOOK_RETRY_DELAYS_MS: Type.String({ default: '1000,5000,30000,120000,600000', pattern: DELAYS }),
  WEBHOOK_MAX_ATTEMPTS: Type.Integer({ default: 8, minimum: 1, maximum: 100 }),
  NOTIFY_RETRY_DELAYS_MS: Type.String({ default: '1000,5000,30000,120000,600000', pattern: DELAYS }),
  NOTIFY_MAX_ATTEMPTS: Type.Integer({ default: 8, minimum: 1, maximum: 100 }),
})

export type Config = Static<typeof ConfigSchema>

/** Throws a ConfigError naming every variable that is wrong. */
export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig(ConfigSchema, env)
}
