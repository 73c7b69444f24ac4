import { ConfigError, loadConfig, Type } from '@platform/config'
import { createLogger } from '@platform/logging'
import { startService } from '@platform/service'
import { DEV_IDP_DEFAULT_URL, devClient, startDevIdp } from './dev-idp.js'

/**
 * The development identity provider as its own process (`npm start` runs it before the feed; docs/feed.md#login):
 *
 *   node --import tsx services/feed/src/dev-idp/server.ts
 *
 * It listens where FEED_DEV_IDP_URL says (http://127.0.0.1:3009), the issuer the feed's development providers entry
 * discovers, and accepts one client, the feed's, whose callback is FEED_PUBLIC_URL/v1/auth/dev/callback. It refuses
 * to run with NODE_ENV=production.
 */
const ConfigSchema = Type.Object({
  NODE_ENV: Type.String({ default: 'development' }),
  LOG_LEVEL: Type.String({ default: 'info' }),
  FEED_DEV_IDP_URL: Type.String({ default: DEV_IDP_DEFAULT_URL, pattern: '^http://[^/?#]+$' }),
  FEED_PUBLIC_URL: Type.String({ default: 'http://127.0.0.1:3002', pattern: '^https?://[^/?#]+$' }),
  /** Where to listen when it differs from the issuer's host (a container publishing the port: 0.0.0.0). */
  DEV_IDP_LISTEN_HOST: Type.Optional(Type.String({ minLength: 1 })),
})

startService(async () => {
  const config = loadConfig(ConfigSchema, process.env)
  if (config.NODE_ENV === 'production') {
    throw new ConfigError([
      {
        variable: 'NODE_ENV',
        message: 'is production: the development identity provider accepts any login, never run it there',
      },
    ])
  }
  const logger = createLogger({ service: 'dev-idp', level: config.LOG_LEVEL })
  const url = new URL(config.FEED_DEV_IDP_URL)
  const callback = `${config.FEED_PUBLIC_URL}/v1/auth/dev/callback`
  const idp = await startDevIdp({
    host: config.DEV_IDP_LISTEN_HOST ?? url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || 80),
    issuer: url.origin,
    clients: [devClient([callback])],
  })
  logger.warn(
    { issuer: idp.issuer, client_id: devClient([]).client_id, redirect_uri: callback },
    'DEVELOPMENT identity provider: any login is accepted (never use it in production)',
  )
  logger.info(`dev-idp listening on ${idp.issuer}`)
  let stopping = false
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(1)
      stopping = true
      logger.info({ signal }, 'shutting down')
      void idp.close().then(() => {
        logger.info('stopped')
        process.exit(0)
      })
    })
  }
})
