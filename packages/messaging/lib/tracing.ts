import {
  ATTR,
  type Context,
  formatTraceparent,
  ROOT_CONTEXT,
  remoteContext,
  type Span,
  SpanKind,
  type SpanOptions,
  startSpan,
} from '@platform/tracing'

/**
 * Trace context on AMQP messages (docs/operations.md "Tracing"). A message carries its context in the W3C headers
 * `traceparent` and `tracestate`, as the OpenTelemetry amqplib instrumentation and other W3C-aware consumers read
 * them. A message that carries several messages (an envelope, an event-log rows message), each from a trace of its
 * own, carries instead `x-traceparents`: one traceparent per message it carries, in order, comma-separated, empty
 * where one has none. The consumer gives each message its own span, a child of its own context.
 *
 * Consumers continue the producer's trace (their span is a CHILD of the publish span), retry and DLQ copies carry the
 * failed attempt's context on, and a message moved back from the DLQ continues the trace it was dead-lettered in.
 */
export const TRACE_HEADERS = {
  parent: 'traceparent',
  state: 'tracestate',
  list: 'x-traceparents',
} as const

/** What a delivery's headers say about its trace: its own context, and one per message it carries. */
export interface DeliveryTrace {
  single?: Context
  list?: (Context | undefined)[]
}

export function deliveryTrace(headers: Record<string, unknown>): DeliveryTrace {
  const single = remoteContext(headersText(headers[TRACE_HEADERS.parent]), headersText(headers[TRACE_HEADERS.state]))
  const listed = headersText(headers[TRACE_HEADERS.list])
  const list = listed ? listed.split(',').map((entry) => (entry ? remoteContext(entry) : undefined)) : undefined
  return { ...(single ? { single } : {}), ...(list ? { list } : {}) }
}

/** The context of the i-th message a delivery carries: its own entry of the list, else the delivery's. */
export function messageContext(traced: DeliveryTrace, index: number): Context | undefined {
  return traced.list?.[index] ?? traced.single
}

/** Every distinct context of a delivery (the bulk consumer's spans). */
export function contextsOf(traced: DeliveryTrace): Context[] {
  const all = traced.list ? traced.list.filter((c): c is Context => c !== undefined) : []
  if (all.length === 0 && traced.single) return [traced.single]
  return all
}

/** `headers` with `span` as the message's trace context, in place of any trace headers they had. */
export function withTraceHeaders(headers: Record<string, unknown>, span: Span): Record<string, unknown> {
  const {
    [TRACE_HEADERS.parent]: _parent,
    [TRACE_HEADERS.state]: _state,
    [TRACE_HEADERS.list]: _list,
    ...rest
  } = headers
  const sc = span.spanContext()
  const state = sc.traceState?.serialize()
  return {
    ...rest,
    [TRACE_HEADERS.parent]: formatTraceparent(sc),
    ...(state ? { [TRACE_HEADERS.state]: state } : {}),
  }
}

const headersText = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : undefined

/** A PRODUCER span for a publish: to an exchange (with its routing key) or to a queue (a retry or DLQ copy). */
export function startPublishSpan(
  destination: string,
  fields: { routingKey?: string; messageId?: string; type?: string; correlationId?: string; count?: number },
  parent?: Context,
): Span {
  const options: SpanOptions = {
    kind: SpanKind.PRODUCER,
    attributes: {
      [ATTR.messagingSystem]: 'rabbitmq',
      [ATTR.messagingOperation]: 'send',
      [ATTR.messagingDestination]: destination,
      ...(fields.routingKey ? { [ATTR.messagingRoutingKey]: fields.routingKey } : {}),
      ...(fields.messageId ? { [ATTR.messagingMessageId]: fields.messageId } : {}),
      ...(fields.type ? { [ATTR.messageType]: fields.type } : {}),
      ...(fields.correlationId ? { [ATTR.correlationId]: fields.correlationId } : {}),
      ...(fields.count && fields.count > 1 ? { [ATTR.messagingBatchCount]: fields.count } : {}),
    },
  }
  return startSpan('@platform/messaging', `publish ${destination || '(default)'}`, options, parent)
}

/** A CONSUMER span for handling one message of `queue`, a child of the context it carries (a root span without). */
export function startProcessSpan(
  queue: string,
  fields: { messageId: string; type?: string; correlationId: string; attempt: number; replays?: number },
  parent: Context | undefined,
  extra: Pick<SpanOptions, 'startTime' | 'links'> = {},
): Span {
  return startSpan(
    '@platform/messaging',
    `process ${queue}`,
    {
      kind: SpanKind.CONSUMER,
      ...extra,
      attributes: {
        [ATTR.messagingSystem]: 'rabbitmq',
        [ATTR.messagingOperation]: 'process',
        [ATTR.messagingDestination]: queue,
        [ATTR.messagingConsumerGroup]: queue,
        [ATTR.messagingMessageId]: fields.messageId,
        [ATTR.correlationId]: fields.correlationId,
        [ATTR.attempt]: fields.attempt,
        ...(fields.type ? { [ATTR.messageType]: fields.type } : {}),
        ...(fields.replays ? { [ATTR.replays]: fields.replays } : {}),
      },
    },
    parent ?? ROOT_CONTEXT,
  )
}
