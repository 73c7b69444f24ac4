import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ServiceApp } from './app.js'
import { type ProblemType, problemTypes } from './problem-types.js'
import { rawExchange, rawRequest } from './raw-http.js'
import { createServiceTestEnv, expectProblem, type ServiceBasicsOptions, type ServiceTestEnv } from './testing.js'

/**
 * Bad input every service must refuse the same way, sent raw over TCP (an HTTP client would refuse to send most of
 * it): each answer is a 4xx problem+json with its problem type (docs/api-errors.md), never a 5xx, never silence.
 * The requests name only what every service has (/health/live, unknown paths), so the table runs against each.
 */
export interface MalformedCase {
  name: string
  request: string | Buffer
  status: number
  type: ProblemType
}

const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`
const post = (path: string, body: string, headers = '') =>
  `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}\r\n${body}`

export const MALFORMED_REQUESTS: MalformedCase[] = [
  {
    name: 'a request line with garbage',
    request: 'GET /health/live HTTP/1.1 x\r\nHost: t\r\n\r\n',
    status: 400,
    type: problemTypes.malformedRequest,
  },
  {
    name: 'an unknown method token',
    request: 'G@T /health/live HTTP/1.1\r\nHost: t\r\n\r\n',
    status: 400,
    type: problemTypes.malformedRequest,
  },
  {
    name: 'a header name with a space',
    request: 'GET /health/live HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n',
    status: 400,
    type: problemTypes.malformedRequest,
  },
  {
    name: 'a raw NUL byte in the path',
    request: 'GET /health/\u0000live HTTP/1.1\r\nHost: t\r\n\r\n',
    status: 400,
    type: problemTypes.malformedRequest,
  },
  {
    name: 'a chunk size that is not hex',
    request:
      'POST /no/such/route HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    status: 400,
    type: problemTypes.malformedRequest,
  },
  {
    name: 'a percent-encoding that does not decode',
    request: 'GET /health/%E0%A4%A HTTP/1.1\r\nHost: t\r\n\r\n',
    status: 400,
    type: problemTypes.malformedRequest,
  },
  {
    name: 'NUL in a query parameter',
    request: 'GET /health/live?cursor=%00 HTTP/1.1\r\nHost: t\r\n\r\n',
    status: 400,
    type: problemTypes.invalidParameter,
  },
  {
    name: 'an unknown path',
    request: 'GET /no/such/route HTTP/1.1\r\nHost: t\r\n\r\n',
    status: 404,
    type: problemTypes.notFound,
  },
  {
    name: 'a known path with another method',
    request: 'DELETE /health/live HTTP/1.1\r\nHost: t\r\n\r\n',
    status: 405,
    type: problemTypes.methodNotAllowed,
  },
  {
    name: 'CONNECT',
    request: 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
    status: 405,
    type: problemTypes.methodNotAllowed,
  },
  {
    name: 'a 9 KiB URL',
    request: `GET /health/live?q=${'a'.repeat(9000)} HTTP/1.1\r\nHost: t\r\n\r\n`,
    status: 414,
    type: problemTypes.urlTooLong,
  },
  {
    name: 'headers over 16 KiB',
    request: `GET /health/live HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    status: 431,
    type: problemTypes.headersTooLarge,
  },
  {
    name: 'a Content-Length over BODY_LIMIT_BYTES',
    request:
      'POST /no/such/route HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{',
    status: 413,
    type: problemTypes.bodyTooLarge,
  },
  {
    name: 'JSON that does not parse',
    request: post('/no/such/route', '{"a": '),
    status: 400,
    type: problemTypes.invalidJson,
  },
  {
    name: 'JSON nested 10,000 levels',
    request: post('/no/such/route', deep(10_000)),
    status: 400,
    type: problemTypes.jsonTooDeep,
  },
  {
    name: 'JSON nested 100,000 levels',
    request: post('/no/such/route', deep(100_000)),
    status: 400,
    type: problemTypes.jsonTooDeep,
  },
  {
    name: 'a lone surrogate escape',
    request: post('/no/such/route', '{"id": "evt_\\ud800"}'),
    status: 400,
    type: problemTypes.invalidCharacters,
  },
  {
    name: 'a lone low surrogate in a key',
    request: post('/no/such/route', '{"\\udc00": 1}'),
    status: 400,
    type: problemTypes.invalidCharacters,
  },
  {
    name: 'a \\u0000 escape',
    request: post('/no/such/route', '{"a": "x\\u0000"}'),
    status: 400,
    type: problemTypes.invalidCharacters,
  },
]

export interface MalformedRequestsOptions<C> extends Pick<ServiceBasicsOptions<C>, 'name' | 'loadConfig' | 'buildApp'> {
  /** More variables for the service's config (e.g. ingest's sources file). */
  env?: Record<string, string>
}

/**
 * Short deadlines, so the slow-client test takes seconds (commonEnv's HTTP_* variables). The request deadline is far
 * enough past the headers one that a header socket closed before it was closed by the headers deadline.
 */
const SLOW = { headersMs: 500, requestMs: 3000, checkMs: 100 }

export function describeMalformedRequests<C>(options: MalformedRequestsOptions<C>): void {
  describe(`${options.name} refuses bad input with a 4xx problem+json`, () => {
    let testEnv: ServiceTestEnv
    let app: ServiceApp
    let port: number

    beforeAll(async () => {
      testEnv = await createServiceTestEnv(options.name, {
        LOG_LEVEL: 'silent',
        HTTP_HEADERS_TIMEOUT_MS: String(SLOW.headersMs),
        HTTP_REQUEST_TIMEOUT_MS: String(SLOW.requestMs),
        HTTP_TIMEOUT_CHECK_INTERVAL_MS: String(SLOW.checkMs),
        ...options.env,
      })
      app = await options.buildApp(options.loadConfig(testEnv.env))
      await app.listen({ port: 0, host: '127.0.0.1' })
      port = (app.server.address() as { port: number }).port
    })

    afterAll(async () => {
      await app?.close()
      await testEnv?.cleanup()
    })

    it.each(MALFORMED_REQUESTS)('$status for $name', async ({ request, status, type }) => {
      const res = await rawRequest(port, request)
      expectProblem(res, status, { type: type.type, title: type.title })
    })

    it('closes slow clients with 408 after the header and request deadlines, serving others meanwhile', async () => {
      // Headers a byte every 100 ms never end; a body a byte every 100 ms would take 100 s. (The 250 clients run in
      // the server's process: a byte every 100 ms keeps their own CPU from delaying the normal request.)
      const headers = Array.from(
        'GET /health/live HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      )
      // The attack of issue 16 §2: 200 sockets sending headers byte by byte, 50 sending a body byte by byte.
      const slowHeaders = Array.from({ length: 200 }, () =>
        rawExchange(port, headers, { intervalMs: 100, timeoutMs: 8000 }),
      )
      const bodyStart =
        'POST /no/such/route HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n'
      const body = [bodyStart, ...Array.from('['.repeat(999))]
      const slowBodies = Array.from({ length: 50 }, () => rawExchange(port, body, { intervalMs: 100, timeoutMs: 8000 }))

      // Meanwhile a normal request is answered at once.
      const started = Date.now()
      const normal = await rawRequest(port, 'GET /health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
      expect(normal.statusCode).toBe(200)
      expect(Date.now() - started).toBeLessThan(SLOW.headersMs)

      // The check interval, and a busy two-core machine (the clients run in the server's process).
      const slack = SLOW.checkMs + 1000
      for (const exchange of slowHeaders) {
        const res = await exchange.response
        expectProblem(res, 408, { type: problemTypes.requestTimeout.type })
        expect(await exchange.closed).toBeLessThan(Math.min(SLOW.headersMs + slack, SLOW.requestMs))
      }
      for (const exchange of slowBodies) {
        const res = await exchange.response
        expectProblem(res, 408, { type: problemTypes.requestTimeout.type })
        expect(await exchange.closed).toBeLessThan(SLOW.requestMs + slack)
      }
    }, 15_000)
  })
}
