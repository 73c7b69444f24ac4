/**
 * Attribute names of the spans, from the OpenTelemetry semantic conventions
 * (https://opentelemetry.io/docs/specs/semconv/): HTTP server spans, database client spans, messaging spans. Written
 * out here rather than taken from @opentelemetry/semantic-conventions, whose messaging and database names are still
 * in its "incubating" entry point. `platform.*` are this project's own.
 */
export const ATTR = {
  httpMethod: 'http.request.method',
  httpRoute: 'http.route',
  httpStatus: 'http.response.status_code',
  urlPath: 'url.path',
  urlScheme: 'url.scheme',
  clientAddress: 'client.address',
  userAgent: 'user_agent.original',
  dbSystem: 'db.system.name',
  dbNamespace: 'db.namespace',
  dbOperation: 'db.operation.name',
  dbQueryText: 'db.query.text',
  dbRows: 'db.response.returned_rows',
  messagingSystem: 'messaging.system',
  messagingOperation: 'messaging.operation.type',
  messagingDestination: 'messaging.destination.name',
  messagingRoutingKey: 'messaging.rabbitmq.destination.routing_key',
  messagingMessageId: 'messaging.message.id',
  messagingConsumerGroup: 'messaging.consumer.group.name',
  messagingBatchCount: 'messaging.batch.message_count',
  /** The correlation id of the request or message (x-correlation-id, the AMQP correlationId). */
  correlationId: 'platform.correlation_id',
  messageType: 'platform.message.type',
  attempt: 'platform.message.attempt',
  replays: 'platform.message.replays',
  outcome: 'platform.message.outcome',
} as const
