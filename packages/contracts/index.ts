/**
 * The typed catalog of the platform's messages and queues (one place, as trigger.dev does it): exchanges, message
 * schemas with their routing keys, and consumer definitions with their retry policy. Publishers and consumers
 * import from here instead of repeating strings.
 */
export {
  ACTIVITY_BATCH_MAX_BYTES,
  ACTIVITY_BATCH_MAX_EVENTS,
  ActivityBatchV1,
  ActivityKind,
  ActivityRecordedV1,
  activityBatch,
  activityRecorded,
  analyticsActivityBatchConsumer,
  analyticsActivityConsumer,
} from './lib/activity.js'
export {
  ENVELOPE_BYTES,
  EVENT_COUNT_HEADER,
  EVENTS_PER_ENVELOPE,
  EventLogBatchV1,
  EventLoggedV1,
  EventLogMessageV1,
  EventLogRowsV1,
  EventLogRowV1,
  eventLogBatch,
  eventLogged,
  eventLogRows,
  eventsOf,
  logShipperConsumer,
  ROWS_PREFIX,
  ROWS_SUFFIX,
} from './lib/eventlog.js'
export { exchanges } from './lib/exchanges.js'
export {
  FanoutBatchV1,
  FollowEventV1,
  fanoutBatch,
  feedEvents,
  feedFanoutBatchConsumer,
  feedFanoutConsumer,
  feedFollowsConsumer,
  feedLikesConsumer,
  LikeEventV1,
  MAX_FANOUT_BATCH,
  PostCreatedV1,
  PostLikedV1,
  PostUnlikedV1,
  postCreated,
  postLiked,
  postUnliked,
  UserFollowedV1,
  UserUnfollowedV1,
  userFollowed,
  userUnfollowed,
} from './lib/feed.js'
export {
  ingestStatusConsumer,
  MAX_EVENT_ID_LENGTH,
  OrderPaidNotifyV1,
  orderPaidNotify,
  processorNotifyConsumer,
  processorWebhooksConsumer,
  WebhookEventId,
  WebhookFormat,
  WebhookReceivedV1,
  WebhookStatus,
  WebhookStatusV1,
  webhookReceived,
  webhookReceivedEnvelope,
  webhookStatusChanged,
} from './lib/webhooks.js'
