/**
 * @platform/tracing: OpenTelemetry for the platform's packages. The SDK (startTracing) runs only when an OTLP
 * endpoint is configured; the helpers below do nothing, and cost nothing, until then. docs/operations.md, "Tracing".
 */
export {
  type Context,
  context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api'
export { ATTR } from './lib/attributes.js'
export { startTracing, type Tracing, type TracingOptions, tracesEndpoint } from './lib/setup.js'
export {
  activeSpanContext,
  contextWith,
  endSpan,
  failSpan,
  insideSpan,
  serverContext,
  startSpan,
  tracingEnabled,
  trustIncomingContext,
  withSpan,
} from './lib/state.js'
export {
  carrierOf,
  currentCarrier,
  formatTraceparent,
  parseTraceparent,
  remoteContext,
  type TraceCarrier,
} from './lib/w3c.js'
