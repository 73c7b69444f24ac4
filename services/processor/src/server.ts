import { runServer, startService } from '@platform/service'
import { buildApp } from './app.js'
import { loadServiceConfig } from './config.js'

startService(async () => {
  const config = loadServiceConfig()
  const app = await buildApp(config)
  await runServer({ app, port: config.PORT, host: config.HOST, shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS })
})
