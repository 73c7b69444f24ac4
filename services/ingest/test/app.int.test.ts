import { describeMalformedRequests, describeServiceBasics } from '@platform/http/testing'
import { buildApp } from '../src/app.js'
import { loadServiceConfig } from '../src/config.js'

describeServiceBasics({
  name: 'ingest',
  loadConfig: loadServiceConfig,
  buildApp: (config) => buildApp(config),
  dependencies: ['postgres', 'rabbitmq', 'redis', 'outboxRelay', 'groupCommit', 'statusConsumer'],
})

describeMalformedRequests({
  name: 'ingest',
  loadConfig: loadServiceConfig,
  buildApp: (config) => buildApp(config),
})
