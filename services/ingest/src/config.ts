import { loadConfig, type Static, serviceEnv, Type } from '@platform/config'
import { webhookEnv } from './webhook-ingest.js'

/** The ingest service's environment: the variables every service reads, and the webhook settings. */
export const ConfigSchema = Type.Object({
  ...serviceEnv({ port: 3001, schema: 'ingest', relayThread: true }),
  ...webhookEnv,
})

export type Config = Static<typeof ConfigSchema>

export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig(ConfigSchema, env)
}
