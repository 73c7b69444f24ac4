import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, serviceEnv, Type } from '../index.js'

const schema = Type.Object({
  ...serviceEnv({ port: 3001, schema: 'ingest' }),
  API_SECRET: Type.String({ minLength: 8 }),
})

describe('loadConfig', () => {
  it('applies the local defaults and converts numbers', () => {
    const config = loadConfig(schema, { API_SECRET: 'long-enough', RATE_LIMIT_MAX: '50' })
    expect(config.PORT).toBe(3001)
    expect(config.DB_SCHEMA).toBe('ingest')
    expect(config.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/postgres')
    expect(config.AMQP_URL).toBe('amqp://guest:guest@127.0.0.1:5672')
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379')
    expect(config.CLICKHOUSE_URL).toBe('http://127.0.0.1:8123')
    expect(config.RATE_LIMIT_MAX).toBe(50)
  })

  it('names every bad or missing variable in one error, without echoing secrets', () => {
    let error: unknown
    try {
      loadConfig(schema, { PORT: 'abc', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', API_SECRET: 'short' })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigError)
    const message = (error as Error).message
    expect(message).toMatch(/PORT: must be an integer >= 0 and <= 65535 \(got "abc"\)/)
    expect(message).toMatch(/DATABASE_URL: must match/)
    expect(message).toMatch(/LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent/)
    expect(message).toMatch(/API_SECRET/)
    expect(message).not.toMatch(/short/)
    expect((error as ConfigError).problems.map((p) => p.variable).sort()).toEqual(
      ['API_SECRET', 'DATABASE_URL', 'LOG_LEVEL', 'PORT'].sort(),
    )
  })

  it('reads the tracing trust settings: off and no hosts by default, a host list when given', () => {
    const base = loadConfig(schema, { API_SECRET: 'long-enough' })
    expect([base.TRACE_TRUST_INCOMING_CONTEXT, base.TRACE_PROPAGATE_HOSTS]).toEqual([false, ''])
    const set = loadConfig(schema, {
      API_SECRET: 'long-enough',
      TRACE_TRUST_INCOMING_CONTEXT: 'true',
      TRACE_PROPAGATE_HOSTS: 'feed.internal:3004, .svc.cluster.local',
    })
    expect([set.TRACE_TRUST_INCOMING_CONTEXT, set.TRACE_PROPAGATE_HOSTS]).toEqual([
      true,
      'feed.internal:3004, .svc.cluster.local',
    ])
    expect(() => loadConfig(schema, { API_SECRET: 'long-enough', TRACE_PROPAGATE_HOSTS: 'a b' })).toThrow(
      /TRACE_PROPAGATE_HOSTS/,
    )
  })

  it('takes TRUST_PROXY as off, true, a hop count or addresses, and names it when it is none of those', () => {
    for (const value of ['false', 'true', '1', '10.0.0.0/8, 127.0.0.1', '::1,fd00::/8']) {
      expect(loadConfig(schema, { API_SECRET: 'long-enough', TRUST_PROXY: value }).TRUST_PROXY).toBe(value)
    }
    expect(loadConfig(schema, { API_SECRET: 'long-enough' }).TRUST_PROXY).toBe('')
    expect(() => loadConfig(schema, { API_SECRET: 'long-enough', TRUST_PROXY: 'the load balancer' })).toThrow(
      /TRUST_PROXY: must match/,
    )
  })

  it('reports a required variable that is missing, and treats empty as unset', () => {
    expect(() => loadConfig(schema, { API_SECRET: '' })).toThrow(/API_SECRET: is required/)
  })
})
