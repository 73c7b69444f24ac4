import { defineProblemType, type ProblemType } from '@platform/http'

/**
 * Analytics' own problem types, beside @platform/http's catalog (packages/http/lib/problem-types.ts); every one is
 * listed in docs/api-errors.md. One catalog per service, one slug per meaning.
 */
export const analyticsProblems = {
  /** `POST /v1/events` without the configured bearer token (ANALYTICS_INGEST_TOKEN), or with another one. */
  invalidIngestToken: defineProblemType('invalid-ingest-token', 401, 'Ingest token required'),
  /** `GET /v1/analytics/*` without the configured read token (ANALYTICS_READ_TOKEN, where one is set). */
  invalidReadToken: defineProblemType('invalid-read-token', 401, 'Read token required'),
  /**
   * An event of a batch that the schema accepts but the store cannot take: performedAt older than
   * ANALYTICS_MAX_EVENT_AGE_DAYS or further in the future than ANALYTICS_MAX_FUTURE_SKEW_S. `errors[0].pointer`
   * names the first such item; nothing of the batch is stored.
   */
  eventOutOfRange: defineProblemType('event-out-of-range', 400, 'Event time outside the accepted window'),
  /** A day range with `from` after `to`, longer than the route allows, or a date that does not exist. */
  invalidDayRange: defineProblemType('invalid-day-range', 400, 'Invalid day range'),
  /**
   * GET /v1/analytics/active-users/estimates where the database has no hll extension (migration 0003): a feature
   * this deployment does not have, not a failure (the exact count of one day's window answers).
   */
  estimatesUnavailable: defineProblemType('estimates-unavailable', 501, 'Estimates not available'),
  /** The commit failed; nothing of the batch was stored, and the same batch may be sent again (Retry-After). */
  notStored: defineProblemType('events-not-stored', 503, 'Events not stored'),
} satisfies Record<string, ProblemType>
