import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { INTERNAL_DETAIL, ProblemError } from './errors.js'
import { sendProblem } from './problem-handler.js'
import { problemTypes } from './problem-types.js'

/**
 * Checks every service's requests get before any route sees them, so a bad id is a 400 in every service instead of
 * whatever the database makes of it.
 */

/**
 * The longest decoded path parameter the router matches (Fastify's default, 100, made a 101-character event id
 * answer 414 on its own status URL). 1024 UTF-16 units hold any id of up to 255 code points (MAX_EVENT_ID_LENGTH of
 * @platform/contracts; an astral character is 2 units); each route's schema sets its own, smaller maximum.
 */
export const MAX_PARAM_LENGTH = 1024

/**
 * URLs longer than this are a 414. Node's parser already refuses a request line plus headers over 16 KiB (431);
 * this keeps a URL well inside that, where a client can still be told what is too long.
 */
export const MAX_URL_LENGTH = 8192

/**
 * C0 controls and DEL. PostgreSQL's text refuses NUL outright (`GET /v1/webhooks/orders/evt%00x` was a 500), and
 * none of them belongs in an id, a cursor or a filter.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this pattern's purpose.
const CONTROL = /[\u0000-\u001f\u007f]/

function controlIn(values: unknown): string | undefined {
  if (values === null || typeof values !== 'object') return undefined
  for (const [name, value] of Object.entries(values)) {
    const texts = Array.isArray(value) ? value : [value]
    if (texts.some((t) => typeof t === 'string' && CONTROL.test(t))) return name
  }
  return undefined
}

export function registerRequestGuards(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.url.length > MAX_URL_LENGTH) {
      return done(
        new ProblemError(problemTypes.urlTooLong, {
          code: 'HTTP_URL_TOO_LONG',
          detail: `The URL is longer than ${MAX_URL_LENGTH} characters.`,
        }),
      )
    }
    const param = controlIn(request.params)
    const query = param === undefined ? controlIn(request.query) : undefined
    if (param !== undefined || query !== undefined) {
      const where = param !== undefined ? 'params' : 'querystring'
      const name = (param ?? query) as string
      return done(
        new ProblemError(problemTypes.invalidParameter, {
          code: 'HTTP_CONTROL_CHARACTER',
          detail: `The ${where === 'params' ? 'path' : 'query'} parameter ${name} holds a control character.`,
          extensions: { errors: [{ in: where, pointer: `/${name}`, message: 'must not hold control characters' }] },
        }),
      )
    }
    done()
  })
}

/**
 * Fastify's `frameworkErrors` option: what the router itself refuses before any hook runs, answered as problem+json
 * instead of Fastify's plain JSON: a URL whose percent-encoding does not decode (e.g. `%zz`, or bytes that are not
 * UTF-8, such as an encoded lone surrogate) and a path parameter over MAX_PARAM_LENGTH.
 */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      sendProblem(
        reply,
        new ProblemError(problemTypes.malformedRequest, {
          code: error.code,
          detail: 'The URL is not valid: a percent-encoded part does not decode to UTF-8 text.',
        }),
      )
      return
    case 'FST_ERR_MAX_PARAM_LENGTH':
      sendProblem(
        reply,
        new ProblemError(problemTypes.urlTooLong, {
          code: error.code,
          detail: `A path segment is longer than ${MAX_PARAM_LENGTH} characters.`,
        }),
      )
      return
    default:
      reply.log.error({ err: error }, 'request failed in the router')
      sendProblem(reply, new ProblemError(problemTypes.internal, { code: 'HTTP_INTERNAL', detail: INTERNAL_DETAIL }))
  }
}
