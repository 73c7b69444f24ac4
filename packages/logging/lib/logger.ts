import { activeSpanContext, tracingEnabled } from '@platform/tracing'
import pino, { type Logger, type LoggerOptions } from 'pino'
import { currentCorrelationId } from './context.js'

/**
 * Paths pino replaces with "[redacted]". Secrets, tokens and webhook signatures must never reach a log line, at any
 * level (docs/configuration.md, LOG_LEVEL). Wildcards cover one level; list nested shapes explicitly
 * (https://getpino.io/#/docs/redaction).
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["set-cookie"]',
  'req.headers["stripe-signature"]',
  'req.headers["webhook-signature"]',
  'req.headers["x-hub-signature-256"]',
  'req.headers["x-hub-signature"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-hub-signature"]',
  'headers["stripe-signature"]',
  'headers["webhook-signature"]',
  'headers["x-hub-signature-256"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.secret',
  '*.secrets',
  '*.token',
  '*.accessToken',
  '*.access_token',
  '*.refreshToken',
  '*.refresh_token',
  '*.idToken',
  '*.id_token',
  '*.clientSecret',
  '*.client_secret',
  '*.signature',
  '*.readToken',
  'password',
  'secret',
  'secrets',
  'token',
  'signature',
]

export interface CreateLoggerOptions {
  service: string
  level?: string
  /** Where lines go; tests pass a stream to read what was logged. */
  destination?: pino.DestinationStream
  base?: Record<string, unknown>
}

export function createLogger(options: CreateLoggerOptions): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: options.service, ...options.base },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Every line written inside a request or a message handler carries its correlation id, and inside a span (tracing
    // on, docs/operations.md "Tracing") the span's trace_id and span_id, so a log line leads to its trace and back.
    mixin() {
      const correlationId = currentCorrelationId()
      const fields: Record<string, string> = correlationId ? { correlationId } : {}
      if (tracingEnabled()) {
        const span = activeSpanContext()
        if (span) {
          fields.trace_id = span.traceId
          fields.span_id = span.spanId
        }
      }
      return fields
    },
    formatters: { level: (label) => ({ level: label }) },
  }
  return options.destination ? pino(config, options.destination) : pino(config)
}

export type { Logger }
