import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ActivityRecordedV1 } from '@platform/contracts'
import type { Sql } from '@platform/db'

/**
 * The benchmark's data (bench.ts): the synthetic history, written by PostgreSQL itself with generate_series, and the
 * events the ingestion runs (COPY, POST /v1/events, the consumer's two queues) each write, a set of the same shape
 * each.
 */
const DAY_MS = 86_400_000
const KINDS = ['login', 'post.created', 'like', 'follow']

/**
 * `events` events of `users` users (uniformly drawn: about one event per user day, the rollups' worst case) over the
 * `days` days before today, written in time order (as an append-only log grows) in chunks of a million rows, each
 * its own statement. Returns the first and last day.
 */
export async function generateHistory(
  sql: Sql,
  options: { events: number; users: number; days: number; onChunk?: (done: number, seconds: number) => void },
): Promise<{ first: string; last: string }> {
  const todayMs = Math.floor(Date.now() / DAY_MS) * DAY_MS
  const startMs = todayMs - options.days * DAY_MS
  const spanMs = options.days * DAY_MS
  const chunk = 1_000_000
  for (let from = 0; from < options.events; from += chunk) {
    const to = Math.min(options.events, from + chunk)
    const started = performance.now()
    await sql`
      insert into events (event_id, user_id, course_id, kind, performed_at, properties)
      select gen_random_uuid(),
        'user-' || (1 + floor(random() * ${options.users}))::int,
        case when random() < 0.3 then 'course-' || floor(random() * 500)::int end,
        (${KINDS}::text[])[1 + floor(random() * 4)::int],
        to_timestamp((${startMs}::float8 + (i + random()) * ${spanMs / options.events}::float8) / 1000),
        null
      from generate_series(${from}::bigint, ${to - 1}::bigint) as i`
    options.onChunk?.(to, (performance.now() - started) / 1000)
  }
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)
  return { first: day(startMs), last: day(todayMs - DAY_MS) }
}

/**
 * `sets` sets of `n` events of `users` users, today's and yesterday's (late ones), `perUserDay` events per user day
 * (1: every event a new user day, the rollups' worst case; 10: sessions). Each set is drawn on its own (its users,
 * times and ids), so each way in that gets one finds as many new user days as the others.
 */
export function ingestRows(n: number, users: number, sets: number, perUserDay = 1): ActivityRecordedV1[][] {
  const now = Date.now()
  const today = Math.floor(now / DAY_MS) * DAY_MS
  const draw = (): ActivityRecordedV1[] => {
    const rows: ActivityRecordedV1[] = []
    while (rows.length < n) {
      const userId = `user-${1 + Math.floor(Math.random() * users)}`
      const dayStart = Math.random() < 0.5 ? today : today - DAY_MS
      const span = Math.min(DAY_MS, now - dayStart)
      for (let j = 0; j < perUserDay && rows.length < n; j++) {
        const i = rows.length
        rows.push({
          eventId: randomUUID(),
          userId,
          kind: KINDS[i % KINDS.length] as string,
          performedAt: new Date(dayStart + Math.floor(Math.random() * span)).toISOString(),
          courseId: i % 3 === 0 ? `course-${i % 500}` : null,
          properties: { source: 'bench', n: i },
        })
      }
    }
    return rows
  }
  return Array.from({ length: sets }, draw)
}

/** COPY ... FROM STDIN (text format) of `rows` into events: the baseline. */
export async function copyRows(sql: Sql, rows: ActivityRecordedV1[]): Promise<void> {
  const lines = function* () {
    let buffer = ''
    for (const r of rows) {
      buffer += `${r.eventId}\t${r.userId}\t${r.courseId ?? '\\N'}\t${r.kind}\t${r.performedAt}\t${JSON.stringify(r.properties ?? null)}\n`
      if (buffer.length > 1 << 16) {
        yield buffer
        buffer = ''
      }
    }
    if (buffer) yield buffer
  }
  const writable = await sql`
    copy events (event_id, user_id, course_id, kind, performed_at, properties) from stdin`.writable()
  await pipeline(Readable.from(lines()), writable)
}
