import { loadConfig, type Static, serviceEnv, Type } from '@platform/config'

/** The analytics service's environment: the variables every service reads; its own join here as features arrive. */
export const ConfigSchema = Type.Object({
  ...serviceEnv({ port: 3003, schema: 'analytics' }),
})

export type Config = Static<typeof ConfigSchema>

export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig(ConfigSchema, env)
}
