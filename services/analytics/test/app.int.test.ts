import { describeMalformedRequests, describeServiceBasics } from '@platform/http/testing'
import { buildApp } from '../src/app.js'
import { loadServiceConfig } from '../src/config.js'

describeServiceBasics({
  name: 'analytics',
  loadConfig: loadServiceConfig,
  buildApp: (config) => buildApp(config),
  dependencies: ['postgres', 'rabbitmq', 'outboxRelay', 'activityConsumer', 'activityBatchConsumer'],
})

describeMalformedRequests({
  name: 'analytics',
  loadConfig: loadServiceConfig,
  buildApp: (config) => buildApp(config),
})
