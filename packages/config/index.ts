export { default as Type, type Static } from 'typebox'
/** TypeBox's value checks, for services that validate a configuration file against a schema (feed's auth providers). */
export { default as Value } from 'typebox/value'
export { ConfigError } from './lib/errors.js'
export {
  type CommonConfig,
  commonEnv,
  DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
  loadConfig,
  serviceEnv,
} from './lib/load-config.js'
