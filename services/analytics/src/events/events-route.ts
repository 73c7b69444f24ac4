import { Type } from '@platform/config'
import { ActivityRecordedV1 } from '@platform/contracts'
import type { ServiceApp } from '@platform/http'
import { bearerScheme, requireBearerToken } from '../bearer-token.js'
import { analyticsProblems } from '../problems.js'
import { type Ingestion, MAX_BATCH } from './ingestion.js'

/** The OpenAPI security of POST /v1/events (the scheme is named where the app is built, app.ts). */
export const INGEST_TOKEN = bearerScheme(
  'ingestToken',
  'The token of ANALYTICS_INGEST_TOKEN, shared with external producers.',
)

const EventsBody = Type.Object(
  { events: Type.Array(ActivityRecordedV1, { minItems: 1, maxItems: MAX_BATCH }) },
  { additionalProperties: false },
)

const EventsAccepted = Type.Object({
  /** Events in the request. */
  received: Type.Integer(),
  /** Events written now. */
  stored: Type.Integer(),
  /** Events stored before (same eventId and performedAt) or repeated within the request: not counted again. */
  duplicates: Type.Integer(),
})

export interface EventsRouteOptions {
  ingestion: Ingestion
  token: string | undefined
  bodyLimit: number
}

/**
 * POST /v1/events (docs/analytics.md#post-v1events): external producers send up to 10,000 events per request. The
 * schema checks every event before anything is stored (a 400 whose `errors[0].pointer` is the first bad item,
 * /events/<index>/<field>); the domain refuses a batch with an event out of the time window the same way. The answer
 * comes after the commit: a 200 means every event is stored (or was already).
 */
export async function registerEventsRoute(app: ServiceApp, options: EventsRouteOptions): Promise<void> {
  app.post(
    '/v1/events',
    {
      bodyLimit: options.bodyLimit,
      // Checked in onRequest, before a body of up to 16 MiB is read. Without a configured token every request is
      // refused (development and tests without one).
      onRequest: requireBearerToken({
        token: options.token,
        whenUnset: 'refuse',
        problem: analyticsProblems.invalidIngestToken,
        detail: 'A valid bearer token (ANALYTICS_INGEST_TOKEN) is required.',
      }),
      schema: {
        summary: 'Store a batch of activity events',
        description:
          'Up to 10,000 events per request, stored with the rollups in one transaction before the answer. An event ' +
          'stored before (same eventId and performedAt) is skipped and counted in `duplicates`: a retry of the same ' +
          'batch is safe. A batch with a bad event is refused whole (400, `errors[0].pointer` names the item).',
        tags: ['events'],
        security: INGEST_TOKEN.requirement,
        body: EventsBody,
        response: { 200: EventsAccepted },
      },
    },
    async (request) => {
      const { events } = request.body
      const result = await options.ingestion.acceptBatch(events)
      return { received: events.length, stored: result.stored, duplicates: result.duplicates }
    },
  )
}
