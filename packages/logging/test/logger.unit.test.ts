import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { correlationIdFrom, createLogger, currentCorrelationId, runWithContext } from '../index.js'

function capture() {
  const lines: Record<string, unknown>[] = []
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(chunk.toString()))
      done()
    },
  })
  return { lines, destination }
}

describe('logger', () => {
  it('redacts authorization, signature headers, secrets and tokens', () => {
    const { lines, destination } = capture()
    const logger = createLogger({ service: 'test', destination })
    logger.info({
      req: {
        headers: {
          authorization: 'Bearer abc.def.ghi',
          'stripe-signature': 't=1,v1=deadbeef',
          'webhook-signature': 'v1,Zm9v',
          'x-hub-signature-256': 'sha256=beef',
          'content-type': 'application/json',
        },
      },
      source: { name: 'payment', secrets: ['whsec_x'], readToken: 'rt' },
      session: { refreshToken: 'r1', accessToken: 'a1' },
    })
    const text = JSON.stringify(lines[0])
    for (const secret of ['abc.def.ghi', 'deadbeef', 'Zm9v', 'sha256=beef', 'whsec_x', '"rt"', 'r1', 'a1']) {
      expect(text).not.toContain(secret)
    }
    expect(text).toContain('application/json')
    expect(lines[0]?.service).toBe('test')
  })

  it('adds the correlation id of the current context to every line', () => {
    const { lines, destination } = capture()
    const logger = createLogger({ service: 'test', destination })
    runWithContext({ correlationId: 'corr-123' }, () => {
      expect(currentCorrelationId()).toBe('corr-123')
      logger.info('inside')
    })
    logger.info('outside')
    expect(lines[0]?.correlationId).toBe('corr-123')
    expect(lines[1]?.correlationId).toBeUndefined()
  })

  it('accepts only short printable correlation ids from callers', () => {
    expect(correlationIdFrom('abc-123')).toBe('abc-123')
    expect(correlationIdFrom('bad id\nwith newline')).not.toContain('\n')
    expect(correlationIdFrom('x'.repeat(500))).toHaveLength(36)
  })
})

describe('trace ids in log lines', () => {
  it('writes trace_id and span_id inside a span when tracing is on, and nothing of them otherwise', async () => {
    const { startTracing, startSpan, withSpan } = await import('@platform/tracing')
    const lines: Record<string, unknown>[] = []
    const logger = createLogger({
      service: 'test',
      destination: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    })
    logger.info('tracing off')
    // An endpoint nothing listens on: nothing is exported within this test (the batch waits 5 s).
    const tracing = await startTracing({
      service: 'test',
      endpoint: 'http://127.0.0.1:9/v1/traces',
      sampleRatio: 1,
      fetch: false,
    })
    try {
      logger.info('outside a span')
      const span = startSpan('test', 'work')
      withSpan(span, () => logger.info('inside a span'))
      span.end()
      expect(lines.map((l) => [l.msg, l.trace_id, l.span_id])).toEqual([
        ['tracing off', undefined, undefined],
        ['outside a span', undefined, undefined],
        ['inside a span', span.spanContext().traceId, span.spanContext().spanId],
      ])
    } finally {
      await tracing.shutdown()
    }
  })
})
