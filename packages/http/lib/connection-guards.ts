import { type IncomingMessage, type Server, type ServerOptions, STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { PROBLEM_CONTENT_TYPE, ProblemError } from './errors.js'
import { problemTypes } from './problem-types.js'

/**
 * What Node's HTTP server answers on its own, below Fastify: requests its parser refuses, requests that take too
 * long to arrive, and CONNECT. Each gets a problem+json answer written on the socket (there is no request object to
 * answer through), and the connection is closed.
 */

/** Deadlines for a request to arrive (commonEnv's HTTP_* variables of @platform/config). */
export interface HttpTimeoutConfig {
  /** From the connection (or the previous request) to the end of the headers. */
  HTTP_HEADERS_TIMEOUT_MS?: number
  /** From the connection to the last byte of the body. */
  HTTP_REQUEST_TIMEOUT_MS?: number
  /** How often Node checks both deadlines; a deadline is enforced up to this much late. */
  HTTP_TIMEOUT_CHECK_INTERVAL_MS?: number
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
export const DEFAULT_TIMEOUT_CHECK_INTERVAL_MS = 1000

/**
 * Node's http.createServer options (https://nodejs.org/api/http.html#httpcreateserveroptions-requestlistener),
 * given to Fastify as `http`. Node's defaults (60 s of headers, 300 s per request, checked every 30 s) let 200
 * sockets that sent their headers a byte at a time hold their connections for ~70 s, and 50 slow bodies for minutes.
 * Fastify does not expose connectionsCheckingInterval, hence the options object; it sets `requestTimeout` itself,
 * so app.ts passes the same value to Fastify too.
 */
export function httpServerOptions(config: HttpTimeoutConfig): ServerOptions {
  const requestTimeout = config.HTTP_REQUEST_TIMEOUT_MS ?? DEFAULT_REQUEST_TIMEOUT_MS
  return {
    requestTimeout,
    // Node refuses a headers deadline past the request deadline.
    headersTimeout: Math.min(config.HTTP_HEADERS_TIMEOUT_MS ?? DEFAULT_HEADERS_TIMEOUT_MS, requestTimeout),
    connectionsCheckingInterval: config.HTTP_TIMEOUT_CHECK_INTERVAL_MS ?? DEFAULT_TIMEOUT_CHECK_INTERVAL_MS,
  }
}

/** Writes `problem` as a whole HTTP/1.1 response on a socket no ServerResponse owns, and closes it. */
export function writeRawProblem(socket: Duplex, problem: ProblemError, instance?: string): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const body = JSON.stringify(problem.toProblem(instance))
  const headers = Object.entries(problem.headers).map(([name, value]) => `${name}: ${value}\r\n`)
  socket.end(
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? 'Error'}\r\n` +
      `content-type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      headers.join('') +
      'connection: close\r\n\r\n' +
      body,
  )
}

/** The answer to a client error of Node's parser (https://nodejs.org/api/http.html#event-clienterror). */
export function clientErrorProblem(error: NodeJS.ErrnoException): ProblemError {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ProblemError(problemTypes.requestTimeout, {
        code: error.code,
        detail: 'The request did not arrive in time.',
      })
    case 'HPE_HEADER_OVERFLOW':
      return new ProblemError(problemTypes.headersTooLarge, {
        code: error.code,
        detail: 'The request line and headers are larger than the server accepts.',
      })
    default:
      return new ProblemError(problemTypes.malformedRequest, {
        code: error.code ?? 'HTTP_CLIENT_ERROR',
        detail: 'The request is not valid HTTP/1.1 (request line, a header or the chunked framing).',
      })
  }
}

/** Fastify's `clientErrorHandler` option; `this` is the Fastify instance. */
export function clientErrorHandler(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  // A response already on its way cannot be followed by another one on the same socket.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (inFlight?.headersSent) {
    socket.destroy()
    return
  }
  const problem = clientErrorProblem(error)
  // Debug: a slowloris attack makes one line per socket.
  this.log.debug({ code: problem.code, status: problem.status }, 'client error')
  writeRawProblem(socket, problem)
}

/**
 * No service is a proxy. Without a 'connect' listener Node destroys a CONNECT request's socket without a word;
 * this answers it 405 instead.
 */
export function refuseConnect(server: Server): void {
  // No `instance`: a CONNECT target (host:port) is not a path of this server.
  server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy())
    writeRawProblem(
      socket,
      new ProblemError(problemTypes.methodNotAllowed, {
        code: 'HTTP_CONNECT_REFUSED',
        detail: 'CONNECT is not supported: this server is not a proxy.',
      }),
    )
  })
}
