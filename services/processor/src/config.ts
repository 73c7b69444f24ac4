import { loadConfig, type Static, serviceEnv, Type } from '@platform/config'
import { processingEnv } from './webhook-processing.js'

/** The processor service's environment: the variables every service reads, and the webhook processing settings. */
export const ConfigSchema = Type.Object({
  ...serviceEnv({ port: 3004, schema: 'processor' }),
  ...processingEnv,
})

export type Config = Static<typeof ConfigSchema>

export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig(ConfigSchema, env)
}
