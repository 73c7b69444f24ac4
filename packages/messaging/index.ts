export {
  type BatchConsumer,
  type BatchDecode,
  type BatchHandler,
  type BatchMessage,
  type BatchOutcome,
  type BatchPolicy,
  DEFAULT_BATCH_POLICY,
  type FlushReason,
  flushDue,
  jsonDecode,
  type StartBatchConsumerOptions,
  startBatchConsumer,
  takeBatch,
} from './lib/batch-consumer.js'
export { type Broker, type BrokerOptions, brokerIsConnected, connectBroker } from './lib/connection.js'
export {
  ack,
  type Consumer,
  deadLetter,
  type Handler,
  type IncomingMessage,
  type Outcome,
  retry,
  type StartConsumerOptions,
  startConsumer,
} from './lib/consumer.js'
export {
  type BatchDef,
  type ConsumerDef,
  DEFAULT_RETRY,
  defineBatch,
  defineConsumer,
  defineExchange,
  defineMessage,
  type ExchangeDef,
  type MessageBatch,
  MessageBatchSchema,
  type MessageDef,
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
