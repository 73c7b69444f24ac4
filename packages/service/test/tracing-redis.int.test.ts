import { loadConfig, serviceEnv, Type } from '@platform/config'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { SpanKind, startSpan, withSpan } from '@platform/tracing'
import { type OtlpReceiver, SPAN_KIND, startOtlpReceiver } from '@platform/tracing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServiceRuntime, type ServiceRuntime } from '../index.js'

/**
 * Redis commands in traces: a runtime with Redis and an OTLP endpoint applies the official ioredis instrumentation
 * (@platform/tracing loaded-modules.ts), so each command made inside a span is a client span, its child, that names
 * the command and nothing of its keys or values; a command outside every span makes no trace.
 */
describe('tracing of Redis commands', () => {
  let env: ServiceTestEnv
  let receiver: OtlpReceiver
  let runtime: ServiceRuntime<true>

  beforeAll(async () => {
    receiver = await startOtlpReceiver()
    env = await createServiceTestEnv('tracing_redis', { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url })
    const config = loadConfig(Type.Object({ ...serviceEnv({ port: 0, schema: 'tracing_redis' }) }), env.env)
    runtime = await createServiceRuntime({ service: 'tracing-redis', config, migrations: [], redis: true })
  })
  afterAll(async () => {
    await runtime?.close()
    await Promise.allSettled([env?.cleanup(), receiver?.close()])
  })

  it('makes a client span per command inside a span, a child of it, without keys or values', async () => {
    await runtime.redis.ping() // outside every span: no trace
    const parent = startSpan('test', 'request', { kind: SpanKind.SERVER })
    await withSpan(parent, async () => {
      await runtime.redis.set('tracing:secret-key', 'secret-value')
      await runtime.redis.pipeline().get('tracing:secret-key').del('tracing:secret-key').exec()
    })
    parent.end()
    const { traceId, spanId } = parent.spanContext()
    await expect
      .poll(
        // The batch span processor exports every 5 s (OTEL_BSP_SCHEDULE_DELAY's default).
        () => receiver.trace(traceId).filter((s) => s.scope.includes('ioredis')).length,
        { timeout: 15_000, interval: 200 },
      )
      .toBeGreaterThanOrEqual(3)

    const commands = receiver.trace(traceId).filter((s) => s.scope.includes('ioredis'))
    expect(commands.map((s) => s.attributes['db.operation.name']).sort()).toEqual(
      ['PIPELINE del', 'PIPELINE get', 'set'].sort(),
    )
    for (const span of commands) {
      expect(span).toMatchObject({ service: 'tracing-redis', kind: SPAN_KIND.client, parentSpanId: spanId })
      expect(span.attributes['db.system.name']).toBe('redis')
      expect(JSON.stringify(span.attributes)).not.toMatch(/secret/)
    }
    expect(receiver.errors()).toEqual([])
    // The ping made outside every span is in no trace.
    expect(receiver.spans().filter((s) => s.attributes['db.operation.name'] === 'ping')).toEqual([])
  })
})
