export {
  CORRELATION_HEADER,
  correlationIdFrom,
  currentContext,
  currentCorrelationId,
  type RequestContext,
  runWithContext,
} from './lib/context.js'
export { type CreateLoggerOptions, createLogger, type Logger, REDACT_PATHS } from './lib/logger.js'
