export {
  type BulkConsumer,
  type BulkDecode,
  type BulkHandler,
  type BulkMessage,
  type BulkOutcome,
  jsonDecode,
  type StartBulkConsumerOptions,
  startBulkConsumer,
} from './lib/bulk-consumer.js'
export { type BulkPolicy, DEFAULT_BULK_POLICY, type FlushReason, flushDue, takeBulk } from './lib/bulk-policy.js'
export { type Broker, type BrokerOptions, brokerIsConnected, connectBroker } from './lib/connection.js'
export {
  ack,
  type Consumer,
  deadLetter,
  type Handler,
  type IncomingMessage,
  type Outcome,
  retry,
  type StartCatalogConsumerOptions,
  type StartConsumerOptions,
  startConsumer,
} from './lib/consumer.js'
export {
  deadLetterHeaders,
  deliveryHeaders,
  publishConfirmed,
  retryHeaders,
  wasDeadLettered,
} from './lib/dead-letter.js'
export {
  type ConsumerDef,
  DEFAULT_RETRY,
  defineConsumer,
  defineEnvelope,
  defineExchange,
  defineMessage,
  type EnvelopeDef,
  type ExchangeDef,
  type MessageDef,
  type MessageEnvelope,
  MessageEnvelopeSchema,
  type RetryPolicy,
  routingKeyOf,
} from './lib/definitions.js'
export { MessagingError, PermanentError, RetryableError } from './lib/errors.js'
export { FAILURE_HEADERS, H as HEADERS } from './lib/headers.js'
export { createPublisher, type OutgoingMessage, type Publisher, type PublisherOptions } from './lib/publisher.js'
export {
  type ConsumerTopology,
  consumerTopology,
  DLQ_DELIVERY_LIMIT,
  declareConsumerTopology,
  declareExchanges,
  dlqArguments,
  dlqName,
  retryDelayFor,
  retryQueueName,
  type TopologyOptions,
} from './lib/topology.js'
export {
  contextsOf,
  type DeliveryTrace,
  deliveryTrace,
  messageContext,
  startProcessSpan,
  startPublishSpan,
  TRACE_HEADERS,
  withTraceHeaders,
} from './lib/tracing.js'
