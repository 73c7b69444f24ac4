export { buildServiceApp, type HttpConfig, type ServiceApp, type ServiceAppOptions } from './lib/app.js'
export {
  clientErrorProblem,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_TIMEOUT_CHECK_INTERVAL_MS,
  type HttpTimeoutConfig,
  httpServerOptions,
} from './lib/connection-guards.js'
export {
  type CursorField,
  decodeCursor,
  decodeTimeIdCursor,
  encodeCursor,
  encodeTimeIdCursor,
  type TimeIdKey,
} from './lib/cursor.js'
export {
  BLANK_TYPE,
  badRequest,
  conflict,
  forbidden,
  HttpError,
  INTERNAL_DETAIL,
  type InvalidParam,
  isProblemError,
  notFound,
  PROBLEM_CONTENT_TYPE,
  type ProblemDetails,
  ProblemError,
  type ProblemOptions,
  serviceUnavailable,
  tooManyRequests,
  unauthorized,
  unprocessable,
  validationProblem,
} from './lib/errors.js'
export {
  type CheckResult,
  HEALTH_PATHS,
  type ReadinessCheck,
  type ReadinessChecks,
  type ReadinessReport,
  runReadinessChecks,
} from './lib/health.js'
export { jsonTextProblem, MAX_JSON_DEPTH, parseJsonText } from './lib/json-guard.js'
export { ensureDefaultMetrics, METRICS_PATH, registryOf, routeLabel } from './lib/metrics.js'
export {
  DOCS_PREFIX,
  type DocumentedBody,
  type OpenApiOptions,
  type OpenApiTag,
  PROBLEM_SCHEMA_ID,
  ProblemDetailsSchema,
  problemResponse,
  type SecurityScheme,
} from './lib/openapi.js'
export { instanceOf, sendProblem, toProblemError } from './lib/problem-handler.js'
export {
  defineProblemType,
  genericProblemType,
  PROBLEM_TYPE_BASE,
  type ProblemType,
  problemTypes,
} from './lib/problem-types.js'
export { type RateLimitConfig, rateLimitNamespace } from './lib/rate-limit.js'
export { type CoalescingCounter, createCoalescingCounter, type RateCountCallback } from './lib/rate-limit-store.js'
export { createRedis } from './lib/redis.js'
export { genReqId, inRequestContext } from './lib/request-context.js'
export { MAX_PARAM_LENGTH, MAX_URL_LENGTH } from './lib/request-guards.js'
export { sameSecret } from './lib/secrets.js'
export { strictValidatorCompiler } from './lib/strict-validation.js'
