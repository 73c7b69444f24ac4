/**
 * Service URLs for tests: from the environment, defaulting to the services this machine runs locally.
 * global-setup.ts may replace them with testcontainers' URLs when nothing listens and a Docker engine answers.
 */
export function testUrls() {
  return {
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    amqpUrl: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    clickhouseUrl: process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123',
    rabbitManagementUrl: process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672',
  }
}

export type TestUrls = ReturnType<typeof testUrls>
