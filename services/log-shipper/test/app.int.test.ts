import { createTestClickHouseDatabase, type TestClickHouse } from '@platform/eventlog/testing'
import { describeMalformedRequests, describeServiceBasics } from '@platform/http/testing'
import { afterAll, beforeAll } from 'vitest'
import { buildApp } from '../src/app.js'
import { loadServiceConfig } from '../src/config.js'

// A ClickHouse database of this file's own: the shipper migrates CLICKHOUSE_DATABASE at start.
let clickhouse: TestClickHouse
beforeAll(async () => {
  clickhouse = await createTestClickHouseDatabase('shipper_app')
})
afterAll(async () => {
  await clickhouse?.drop()
})

describeServiceBasics({
  name: 'log-shipper',
  loadConfig: loadServiceConfig,
  buildApp: (config) => buildApp({ ...config, CLICKHOUSE_DATABASE: clickhouse.database }),
  dependencies: ['postgres', 'rabbitmq', 'clickhouse', 'outboxRelay', 'shipper'],
})

describeMalformedRequests({
  name: 'log-shipper',
  loadConfig: loadServiceConfig,
  buildApp: (config) => buildApp({ ...config, CLICKHOUSE_DATABASE: clickhouse.database }),
})
