import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  preHandlerAsyncHookHandler,
  RouteOptions,
} from 'fastify'
import {
  INTERNAL_DETAIL,
  type InvalidParam,
  isProblemError,
  PROBLEM_CONTENT_TYPE,
  ProblemError,
  validationProblem,
} from './errors.js'
import { problemTypes } from './problem-types.js'
import { inRequestContext } from './request-context.js'

const INVALID_JSON = 'The request body is not valid JSON.'

/**
 * Every error leaves as an RFC 9457 problem details document (https://www.rfc-editor.org/rfc/rfc9457):
 * handlers throw ProblemError for domain errors; Fastify's own errors (validation, body parsing, limits) are
 * mapped here; anything else is a 500 whose detail says nothing about the cause, which is logged instead.
 */
export function toProblemError(error: unknown, bodyLimit: number): ProblemError {
  if (isProblemError(error)) return error
  const e = (error ?? {}) as Partial<FastifyError> & { status?: number }
  if (e.validation) return validationProblem(e.validation.map((v) => invalidParam(v, e.validationContext)))
  const code = e.code ?? 'HTTP_PROBLEM'
  switch (code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ProblemError(problemTypes.invalidJson, { code, detail: INVALID_JSON })
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ProblemError(problemTypes.invalidJson, {
        code,
        detail: 'The body is empty although its content type is application/json.',
      })
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ProblemError(problemTypes.bodyTooLarge, {
        code,
        detail: `The request body is larger than ${bodyLimit} bytes.`,
      })
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ProblemError(problemTypes.unsupportedMediaType, {
        code,
        detail: 'The request content type is not supported by this endpoint.',
      })
  }
  const status = e.statusCode ?? e.status
  // JSON.parse errors thrown by a custom parser arrive as a SyntaxError marked 400.
  if (error instanceof SyntaxError && status === 400)
    return new ProblemError(problemTypes.invalidJson, { detail: INVALID_JSON })
  if (status !== undefined && status >= 400 && status < 500) {
    // e.g. Fastify's FST_ERR_CTP_INVALID_CONTENT_LENGTH, or a plugin's own 4xx: the status's generic type.
    return new ProblemError(status, { code, detail: e.message ?? '' })
  }
  return new ProblemError(status !== undefined && status >= 500 && status < 600 ? status : 500, {
    detail: INTERNAL_DETAIL,
    code: 'HTTP_INTERNAL',
    cause: error,
  })
}

function invalidParam(v: NonNullable<FastifyError['validation']>[number], context: string | undefined): InvalidParam {
  // Ajv names one missing property, TypeBox's compiler (strict-validation.ts) the list of them.
  const params = v.params as { missingProperty?: string; requiredProperties?: string[] } | undefined
  const missing = params?.missingProperty ?? params?.requiredProperties?.[0]
  const pointer = `${v.instancePath}${missing ? `/${missing}` : ''}` || '/'
  return { in: context ?? 'body', pointer, message: v.message ?? 'is invalid' }
}

/** The request path without its query string: queries can hold tokens, and `instance` is echoed to clients. */
export const instanceOf = (request: FastifyRequest) => request.url.split('?')[0] ?? '/'

export function sendProblem(reply: FastifyReply, problem: ProblemError): FastifyReply {
  return reply
    .code(problem.status)
    .headers(problem.headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problem.toProblem(instanceOf(reply.request))))
}

export function registerErrorHandler(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((error, request, reply) =>
    inRequestContext(request, () => {
      const problem = toProblemError(error, bodyLimit)
      if (problem.status >= 500) {
        // A deliberate ProblemError (e.g. 503 from a handler) is logged with its own message, not a stack.
        const err = problem.cause === undefined ? { code: problem.code, message: problem.detail } : error
        request.log.error({ err, status: problem.status }, 'request failed')
      } else {
        request.log.info({ status: problem.status, code: problem.code, detail: problem.detail }, 'request rejected')
      }
      return sendProblem(reply, problem)
    }),
  )
}

/**
 * 404 for unknown paths, 405 (with Allow) for known paths asked with another method. Call it before any route is
 * registered: it learns the routes from onRoute. `preHandler` runs for unmatched requests too, e.g. the rate
 * limit, which otherwise only guards registered routes and would let a scanner probe paths unlimited.
 */
export function registerNotFoundHandler(app: FastifyInstance, preHandler?: preHandlerAsyncHookHandler): void {
  const routes = routeTable()
  app.addHook('onRoute', routes.add)
  app.setNotFoundHandler(preHandler ? { preHandler } : {}, (request, reply) => {
    const allowed = routes.methodsFor(instanceOf(request))
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      // RFC 9110 §15.5.6: a 405 lists the methods the resource does support.
      return sendProblem(
        reply,
        new ProblemError(problemTypes.methodNotAllowed, {
          detail: `${request.method} is not supported here; use ${allowed.join(', ')}.`,
          headers: { allow: allowed.join(', ') },
        }),
      )
    }
    return sendProblem(
      reply,
      new ProblemError(problemTypes.notFound, { detail: `No route matches ${request.method} ${instanceOf(request)}.` }),
    )
  })
}

/**
 * The registered routes as path patterns, to tell "no such resource" (404) from "no such method on this
 * resource" (405). Fastify's router only answers for one method at a time, so patterns are kept here;
 * `:param` and `*` cover the shapes routes use.
 */
function routeTable() {
  const routes: { pattern: RegExp; methods: string[] }[] = []
  return {
    add(route: RouteOptions) {
      const source = route.url
        .split('/')
        .map((segment) =>
          segment === '*' ? '.*' : segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
        )
        .join('/')
      const methods = Array.isArray(route.method) ? route.method : [route.method]
      routes.push({ pattern: new RegExp(`^${source}/?$`), methods: methods.map(String) })
    },
    methodsFor(path: string): string[] {
      const found = new Set<string>()
      for (const route of routes) if (route.pattern.test(path)) for (const m of route.methods) found.add(m)
      return [...found].sort()
    },
  }
}
