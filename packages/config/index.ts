export { default as Type, type Static } from 'typebox'
export { ConfigError } from './lib/errors.js'
export { type CommonConfig, commonEnv, loadConfig, serviceEnv } from './lib/load-config.js'
