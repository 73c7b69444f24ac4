/**
 * The problem types (RFC 9457 §3.1.1, https://www.rfc-editor.org/rfc/rfc9457#section-3.1.1) every service answers
 * with: one stable URI per reason, so a client can tell "invalid cursor" from "body too large" without parsing
 * `detail`, and one place that lists them all (docs/api-errors.md documents each). A service adds its own with
 * `defineProblemType` (e.g. ingest's signature failures in services/ingest/src/problems.ts).
 *
 * The URIs are identifiers, not links that must resolve (RFC 9457 §3.1.1 allows that); their base never changes,
 * and a slug is never reused for another meaning.
 */
export const PROBLEM_TYPE_BASE = 'https://event-platform.dev/problems/'

export interface ProblemType {
  /** `PROBLEM_TYPE_BASE` + slug. */
  readonly type: string
  /** Short and human-readable; the same for every occurrence of the type (RFC 9457 §3.1.3). */
  readonly title: string
  readonly status: number
}

export function defineProblemType(slug: string, status: number, title: string): ProblemType {
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(slug)) throw new Error(`problem type slug must be kebab-case: ${slug}`)
  return Object.freeze({ type: `${PROBLEM_TYPE_BASE}${slug}`, title, status })
}

/** The types of @platform/http itself: the framework's, the HTTP parser's and the shared request guards'. */
export const problemTypes = {
  /** The HTTP parser refused the request line, a header, the chunk framing, or the URL's percent-encoding. */
  malformedRequest: defineProblemType('malformed-request', 400, 'Malformed HTTP request'),
  /** A 400 with nothing more specific to say (badRequest()). */
  badRequest: defineProblemType('bad-request', 400, 'Bad Request'),
  /** A path or query parameter breaks its schema or holds control characters (NUL, CR, LF, ...). */
  invalidParameter: defineProblemType('invalid-parameter', 400, 'Invalid path or query parameter'),
  /** The body (or a header) breaks the route's schema; `errors` says where. */
  invalidBody: defineProblemType('invalid-body', 400, 'Invalid request body'),
  /** The body is not JSON at all, or empty although its content type is application/json. */
  invalidJson: defineProblemType('invalid-json', 400, 'Body is not valid JSON'),
  /** Objects and arrays nested deeper than MAX_JSON_DEPTH (json-guard.ts). */
  jsonTooDeep: defineProblemType('json-too-deep', 400, 'JSON nested too deeply'),
  /** A JSON string escapes NUL (\u0000) or a lone UTF-16 surrogate: PostgreSQL text and jsonb cannot hold them. */
  invalidCharacters: defineProblemType('invalid-characters', 400, 'Characters that cannot be stored'),
  /** A pagination cursor that no page handed out. */
  invalidCursor: defineProblemType('invalid-cursor', 400, 'Invalid cursor'),
  unauthorized: defineProblemType('unauthorized', 401, 'Unauthorized'),
  forbidden: defineProblemType('forbidden', 403, 'Forbidden'),
  notFound: defineProblemType('not-found', 404, 'Not Found'),
  methodNotAllowed: defineProblemType('method-not-allowed', 405, 'Method Not Allowed'),
  /** The request line, headers or body did not arrive within HTTP_HEADERS_TIMEOUT_MS / HTTP_REQUEST_TIMEOUT_MS. */
  requestTimeout: defineProblemType('request-timeout', 408, 'Request Timeout'),
  conflict: defineProblemType('conflict', 409, 'Conflict'),
  bodyTooLarge: defineProblemType('body-too-large', 413, 'Payload Too Large'),
  urlTooLong: defineProblemType('url-too-long', 414, 'URI Too Long'),
  unsupportedMediaType: defineProblemType('unsupported-media-type', 415, 'Unsupported Media Type'),
  unprocessable: defineProblemType('unprocessable', 422, 'Unprocessable Content'),
  rateLimited: defineProblemType('rate-limited', 429, 'Too Many Requests'),
  headersTooLarge: defineProblemType('headers-too-large', 431, 'Request Header Fields Too Large'),
  internal: defineProblemType('internal-error', 500, 'Internal Server Error'),
  /** A dependency is down or the service is not ready: retrying later can succeed (see Retry-After). */
  unavailable: defineProblemType('service-unavailable', 503, 'Service Unavailable'),
  shuttingDown: defineProblemType('shutting-down', 503, 'Service Unavailable'),
} satisfies Record<string, ProblemType>

/**
 * What `new ProblemError(status)` means when the thrower named no type: the generic type of that status. Statuses
 * without one keep "about:blank" (RFC 9457 §4.2.1).
 */
const GENERIC_BY_STATUS = new Map<number, ProblemType>(
  [
    problemTypes.badRequest,
    problemTypes.unauthorized,
    problemTypes.forbidden,
    problemTypes.notFound,
    problemTypes.methodNotAllowed,
    problemTypes.requestTimeout,
    problemTypes.conflict,
    problemTypes.bodyTooLarge,
    problemTypes.urlTooLong,
    problemTypes.unsupportedMediaType,
    problemTypes.unprocessable,
    problemTypes.rateLimited,
    problemTypes.headersTooLarge,
    problemTypes.internal,
    problemTypes.unavailable,
  ].map((t) => [t.status, t]),
)

export const genericProblemType = (status: number): ProblemType | undefined => GENERIC_BY_STATUS.get(status)
