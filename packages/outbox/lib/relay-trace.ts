import { type OutgoingMessage, startPublishSpan, TRACE_HEADERS, withTraceHeaders } from '@platform/messaging'
import { formatTraceparent, remoteContext, type Span } from '@platform/tracing'

/**
 * The relay's publish spans (tracing on; docs/operations.md "Tracing"). A row carries the trace context it was
 * enqueued in (migrations.ts, outbox/0004): the relay publishes it in a PRODUCER span that is a child of that
 * context, from the publish until the broker's confirm, and the message carries the span's context on. The claim
 * itself (its queries, the rows without a context) is traced in no one's name: it serves many traces at once.
 *
 * A row that carries several messages (an envelope of webhooks, a rows message of many events) has one context per
 * message: each distinct one gets its span, and the message carries them as x-traceparents, one per message in
 * order, so each consumer span continues its own message's trace. When all of them are one, the plain traceparent.
 */
export function tracedMessage(
  message: OutgoingMessage,
  traceparent: string,
  tracestate: string | undefined,
): { message: OutgoingMessage; spans: Span[] } {
  const entries = traceparent.split(',')
  const fields = {
    routingKey: message.routingKey,
    messageId: message.messageId,
    ...(message.type ? { type: message.type } : {}),
    ...(message.correlationId ? { correlationId: message.correlationId } : {}),
  }
  const headers = message.headers ?? {}
  if (entries.length === 1) {
    const parent = remoteContext(entries[0], tracestate)
    if (!parent) return { message, spans: [] }
    const span = startPublishSpan(message.exchange, fields, parent)
    return { message: { ...message, headers: withTraceHeaders(headers, span) }, spans: [span] }
  }
  const byParent = new Map<string, Span>()
  const published = entries.map((entry) => {
    if (!entry) return ''
    let span = byParent.get(entry)
    if (!span) {
      const parent = remoteContext(entry)
      if (!parent) return ''
      span = startPublishSpan(message.exchange, { ...fields, count: entries.length }, parent)
      byParent.set(entry, span)
    }
    return formatTraceparent(span.spanContext())
  })
  const spans = [...byParent.values()]
  const [only] = spans
  if (!only) return { message, spans }
  if (spans.length === 1 && published.every((p) => p !== '')) {
    return { message: { ...message, headers: withTraceHeaders(headers, only) }, spans }
  }
  const { [TRACE_HEADERS.parent]: _p, [TRACE_HEADERS.state]: _s, ...rest } = headers
  return { message: { ...message, headers: { ...rest, [TRACE_HEADERS.list]: published.join(',') } }, spans }
}
