import { defineProblemType, type ProblemType } from '@platform/http'

/**
 * Ingest's own problem types, beside @platform/http's catalog (packages/http/lib/problem-types.ts); every one is
 * listed in docs/api-errors.md. A sender tells "fix the signature" from "retry later" by the type alone.
 */
export const ingestProblems = {
  unknownSource: defineProblemType('unknown-source', 404, 'Unknown webhook source'),
  missingSignature: defineProblemType('missing-signature', 401, 'Signature headers missing'),
  badSignature: defineProblemType('bad-signature', 401, 'Bad signature'),
  /** The signed timestamp is older or newer than the source's tolerance (replay protection). */
  timestampOutsideTolerance: defineProblemType('timestamp-outside-tolerance', 401, 'Timestamp outside tolerance'),
  /** The body is JSON but breaks the source's format (docs/webhooks.md), e.g. an event id over 255 characters. */
  invalidWebhook: defineProblemType('invalid-webhook', 400, 'Body does not match the source format'),
  /** The bearer token of the status API. */
  invalidReadToken: defineProblemType('invalid-read-token', 401, 'Read token required'),
  unknownEvent: defineProblemType('unknown-event', 404, 'Unknown event'),
  /** The commit failed; nothing was stored, and the same request may be sent again (Retry-After). */
  notStored: defineProblemType('not-stored', 503, 'Event not stored'),
} satisfies Record<string, ProblemType>
