import { STATUS_CODES } from 'node:http'
import { genericProblemType, type ProblemType, problemTypes } from './problem-types.js'

/**
 * Errors of @platform/http. Every error response is an RFC 9457 problem details document
 * (https://www.rfc-editor.org/rfc/rfc9457); handlers throw a ProblemError to choose status, title and detail.
 * Codes are prefixed HTTP_ so a log line names the package at a glance.
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/** RFC 9457 §4.2.1: "about:blank" means the problem has no semantics beyond its HTTP status code. */
export const BLANK_TYPE = 'about:blank'

export interface ProblemDetails {
  type: string
  title: string
  status: number
  detail: string
  instance?: string
  [extension: string]: unknown
}

export interface ProblemOptions {
  /** A human-readable explanation of this occurrence; sent to the client as is, so never put internals here. */
  detail?: string
  /** Defaults to the problem type's title (problem-types.ts), else the status code's reason phrase. */
  title?: string
  /**
   * A URI naming the problem type, for problems a client is expected to tell apart. Prefer passing a ProblemType
   * (problem-types.ts) as the first argument; without either, the status's generic type is used.
   */
  type?: string
  /** Extension members (RFC 9457 §3.2), e.g. `errors` of a validation problem. */
  extensions?: Record<string, unknown>
  /** Response headers that belong to the problem, e.g. Retry-After or Allow. */
  headers?: Record<string, string>
  code?: string
  cause?: unknown
}

export class ProblemError extends Error {
  readonly code: string
  readonly status: number
  readonly title: string
  readonly detail: string
  readonly type: string
  readonly extensions: Record<string, unknown>
  readonly headers: Record<string, string>

  /** `kind`: a ProblemType of the catalog (status, type and title in one), or a bare status code. */
  constructor(kind: number | ProblemType, options: ProblemOptions = {}) {
    const status = typeof kind === 'number' ? kind : kind.status
    const known = typeof kind === 'number' ? (options.type === undefined ? genericProblemType(kind) : undefined) : kind
    const title = options.title ?? known?.title ?? STATUS_CODES[status] ?? 'Error'
    super(options.detail ?? title, { cause: options.cause })
    this.name = 'ProblemError'
    this.code = options.code ?? 'HTTP_PROBLEM'
    this.status = status
    this.title = title
    this.detail = options.detail ?? title
    this.type = options.type ?? known?.type ?? BLANK_TYPE
    this.extensions = options.extensions ?? {}
    this.headers = options.headers ?? {}
  }

  /**
   * The response body; `instance` is the request path (without its query, which may carry tokens), absent when
   * the request could not even be parsed.
   */
  toProblem(instance?: string): ProblemDetails {
    return {
      ...this.extensions,
      type: this.type,
      title: this.title,
      status: this.status,
      detail: this.detail,
      ...(instance === undefined ? {} : { instance }),
    } as ProblemDetails
  }
}

export function isProblemError(error: unknown): error is ProblemError {
  return error instanceof ProblemError
}

/** One entry of a validation problem's `errors` member: where (a JSON Pointer, RFC 6901) and what. */
export interface InvalidParam {
  in: string
  pointer: string
  message: string
}

export const badRequest = (detail: string, extensions?: Record<string, unknown>) =>
  new ProblemError(400, { detail, ...(extensions ? { extensions } : {}) })

/** Parameters (path, query) and bodies are told apart: a client fixes them in different places. */
export const validationProblem = (errors: InvalidParam[], detail = 'The request is invalid.') =>
  new ProblemError(
    errors.every((e) => e.in === 'params' || e.in === 'querystring')
      ? problemTypes.invalidParameter
      : problemTypes.invalidBody,
    { detail, code: 'HTTP_VALIDATION', extensions: { errors } },
  )

export const unauthorized = (detail = 'Authentication is required.') => new ProblemError(401, { detail })

export const forbidden = (detail = 'Access to this resource is denied.') => new ProblemError(403, { detail })

export const notFound = (detail = 'The resource does not exist.') => new ProblemError(404, { detail })

export const conflict = (detail: string, extensions?: Record<string, unknown>) =>
  new ProblemError(409, { detail, ...(extensions ? { extensions } : {}) })

export const unprocessable = (detail: string, extensions?: Record<string, unknown>) =>
  new ProblemError(422, { detail, ...(extensions ? { extensions } : {}) })

/** RFC 9110 §10.2.3: Retry-After in seconds tells a client when trying again makes sense. */
export const tooManyRequests = (retryAfterSeconds: number, detail = 'Too many requests; slow down.') =>
  new ProblemError(problemTypes.rateLimited, {
    detail,
    code: 'HTTP_RATE_LIMITED',
    headers: { 'retry-after': String(retryAfterSeconds) },
  })

export const serviceUnavailable = (detail: string, options: Omit<ProblemOptions, 'detail'> = {}) =>
  new ProblemError(503, { ...options, detail })

/** What a 5xx says: the cause stays in the log, under the request's correlation id. */
export const INTERNAL_DETAIL = 'An unexpected error occurred; the request id is in the x-correlation-id header.'

/** Errors of the package's own machinery, not sent to clients. */
export class HttpError extends Error {
  constructor(
    readonly code: 'HTTP_READINESS_TIMEOUT' | 'HTTP_NOT_READY',
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options)
    this.name = 'HttpError'
  }
}
