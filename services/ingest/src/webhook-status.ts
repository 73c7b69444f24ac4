import type { WebhookStatus } from '@platform/contracts'
import { decodeTimeIdCursor, encodeTimeIdCursor, ProblemError, sameSecret } from '@platform/http'
import { unknownSource } from './accept-webhook.js'
import type { EventRow, EventsRepository } from './events-repository.js'
import { ingestProblems } from './problems.js'
import type { SourceConfig } from './sources.js'

/**
 * The status API (docs/webhooks.md#status): one event by its provider id, or a source's events newest first, to the
 * bearer of the source's read token only. Parameters arrive checked by the routes' schemas (routes.ts).
 */
export interface StatusReader {
  /** The configured source the path names; undefined for a name the sources file does not hold. */
  source: SourceConfig | undefined
  /** The Authorization header as sent. */
  authorization: string | undefined
}

export interface WebhookPage {
  items: PresentedEvent[]
  next_cursor: string | null
}

export type PresentedEvent = ReturnType<typeof present>

function authorize({ source, authorization }: StatusReader): SourceConfig {
  if (!source) throw unknownSource()
  const match = /^Bearer (.+)$/.exec(authorization ?? '')
  if (!match || !sameSecret(match[1] as string, source.readToken)) {
    throw new ProblemError(ingestProblems.invalidReadToken, {
      detail: "A valid bearer token (the source's read token) is required.",
      headers: { 'www-authenticate': 'Bearer realm="webhooks"' },
    })
  }
  return source
}

const present = (row: EventRow) => ({
  id: row.id,
  source: row.source,
  event_id: row.event_id,
  event_type: row.event_type,
  status: row.status,
  attempts: row.attempts,
  received_at: row.received_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
  last_error: row.last_error,
})

/** Opaque keyset cursor: the (received_at, id) of the last row of a page; decoding checks both (invalid-cursor). */
const encodeCursor = (row: EventRow) => encodeTimeIdCursor({ at: row.received_at, id: row.id })

function decodeCursor(cursor: string): { receivedAt: Date; id: string } {
  const { at, id } = decodeTimeIdCursor(cursor)
  return { receivedAt: at, id }
}

export async function readWebhookStatus(
  repository: EventsRepository,
  reader: StatusReader,
  eventId: string,
): Promise<PresentedEvent> {
  const source = authorize(reader)
  const row = await repository.findByEventId(source.name, eventId)
  if (!row) {
    throw new ProblemError(ingestProblems.unknownEvent, { detail: 'No event with this id (or it is past retention).' })
  }
  return present(row)
}

export async function listWebhooks(
  repository: EventsRepository,
  reader: StatusReader,
  query: { status?: WebhookStatus; cursor?: string; limit: number },
): Promise<WebhookPage> {
  const source = authorize(reader)
  const { limit } = query
  // One row more than the page: its presence says whether there is a next page.
  const rows = await repository.list(source.name, {
    limit: limit + 1,
    ...(query.status ? { status: query.status } : {}),
    ...(query.cursor ? { after: decodeCursor(query.cursor) } : {}),
  })
  const page = rows.slice(0, limit)
  const last = page.at(-1)
  return { items: page.map(present), next_cursor: rows.length > limit && last ? encodeCursor(last) : null }
}
