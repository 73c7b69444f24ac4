import { loadConfig, type Static, serviceEnv, Type } from '@platform/config'
import { DEFAULT_SOURCES_FILE, loadSources, type SourceConfig } from './sources.js'

/**
 * Ingest's configuration, read and validated once, at start, by loadServiceConfig: the variables every service reads,
 * the webhook settings, and the sources file WEBHOOK_SOURCES_FILE names (docs/webhooks.md#sources). Everything
 * below server.ts receives it from here; nothing else reads the environment or the file.
 */
export const ConfigSchema = Type.Object({
  ...serviceEnv({ port: 3001, schema: 'ingest', relayThread: true }),
  WEBHOOK_SOURCES_FILE: Type.String({ default: DEFAULT_SOURCES_FILE, minLength: 1 }),
  WEBHOOK_RETENTION_DAYS: Type.Integer({ default: 30, minimum: 1 }),
  WEBHOOK_RETENTION_INTERVAL_MS: Type.Integer({ default: 3_600_000, minimum: 1000 }),
  WEBHOOK_PARTITION_LOOKAHEAD_DAYS: Type.Integer({ default: 7, minimum: 1, maximum: 60 }),
  /** Group commit (docs/adr/0008-ingest-group-commit.md). */
  GROUP_COMMIT_MAX_BATCH: Type.Integer({ default: 128, minimum: 1, maximum: 2000 }),
  GROUP_COMMIT_MAX_WAIT_MS: Type.Integer({ default: 2, minimum: 0, maximum: 100 }),
  GROUP_COMMIT_MAX_IN_FLIGHT: Type.Integer({ default: 2, minimum: 1, maximum: 8 }),
  /** A commit past this deadline fails its requests with 503 and frees its slot. */
  GROUP_COMMIT_TIMEOUT_MS: Type.Integer({ default: 5000, minimum: 100, maximum: 60_000 }),
})

export type Config = Static<typeof ConfigSchema> & {
  /** The sources file's content, by source name (the path segment of POST /v1/webhooks/<name>). */
  sources: Map<string, SourceConfig>
}

/** Throws a ConfigError naming the variable (or the sources file's JSON pointer) that is wrong; never a secret. */
export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const config = loadConfig(ConfigSchema, env)
  return { ...config, sources: loadSources(config.WEBHOOK_SOURCES_FILE) }
}
