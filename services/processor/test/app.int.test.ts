import { describeMalformedRequests, describeServiceBasics } from '@platform/http/testing'
import { buildApp } from '../src/app.js'
import { loadServiceConfig } from '../src/config.js'

describeServiceBasics({
  name: 'processor',
  loadConfig: loadServiceConfig,
  buildApp: (config) => buildApp(config),
  dependencies: ['postgres', 'rabbitmq', 'outboxRelay', 'webhookConsumer', 'notifyConsumer'],
})

describeMalformedRequests({
  name: 'processor',
  loadConfig: loadServiceConfig,
  buildApp: (config) => buildApp(config),
})
