export {
  CLAIM_CHECK_SCHEMA,
  type ClaimCheckStore,
  claimCheckMigrations,
  claimCheckStore,
  ensureClaimCheckStore,
  pruneRecordedEvents,
} from './lib/claim-check.js'
export {
  buildEventMessage,
  clickhouseDateTime,
  createEventLog,
  DEFAULT_CLAIM_CHECK_THRESHOLD,
  type EnvelopeLimits,
  type EventLog,
  type EventLogEntry,
  type EventLogOptions,
  packEnvelopes,
  rowJson,
  rowsMessages,
} from './lib/event-log.js'
export {
  type ConsumerEventLog,
  consumerEventLog,
  eventIdFor,
  type HandledMessage,
  MESSAGE_EVENT_NAMESPACE,
  type MessageEventLog,
  type MessageEventLogEntry,
  messageEventLog,
  uuidV5,
} from './lib/message-event-log.js'
export { createRecordingEventLog, type RecordedEvent } from './lib/recording-event-log.js'
export { EVENT_LOG_COLUMNS, EVENT_LOG_INSERT_COLUMNS, type EventLogRow, TRACE_COLUMNS, toRow } from './lib/row.js'
export { rowsMessagesSql } from './lib/rows-messages-sql.js'
