import { type Migration, migrate, type Queryable, type Sql } from '@platform/db'

/**
 * Where large event-log contexts wait for ClickHouse (the claim-check pattern,
 * https://www.enterpriseintegrationpatterns.com/patterns/messaging/StoreInLibrary.html). It is a blob store, not a
 * bounded context: producers write it in their business transaction (same database, so the payload commits or
 * rolls back with the event), only the log-shipper reads it and deletes a payload once ClickHouse has the row.
 * No service reads another's payloads. See docs/adr/0005-eventlog-claim-check.md.
 */
export const CLAIM_CHECK_SCHEMA = 'eventlog_claims'

export const claimCheckMigrations: Migration[] = [
  {
    id: 'eventlog/0001_payloads',
    sql: `
      create table payloads (
        id         uuid primary key,
        service    text not null,
        context    text not null,
        created_at timestamptz not null default now()
      );
      create index payloads_created_at on payloads (created_at);
    `,
  },
  {
    // The fixed event ids already recorded (EventLogEntry.eventId: a consumer's ids, derived from the message it
    // handles), so a redelivered message that records its event again writes no second row. ClickHouse could not
    // collapse the copies by itself: its key holds the event's time, which a second recording would give anew.
    // Written by producers in their business transaction, like payloads; old rows go with pruneRecordedEvents.
    id: 'eventlog/0002_recorded_events',
    sql: `
      create table recorded_events (
        event_id    uuid primary key,
        service     text not null,
        recorded_at timestamptz not null default now()
      );
      create index recorded_events_recorded_at on recorded_events (recorded_at);
    `,
  },
]

/**
 * Forgets fixed event ids recorded more than `days` ago (like the inbox's prune: a message redelivered after that
 * long is not expected). An id recorded again after that is a second row, with the same event id.
 */
export async function pruneRecordedEvents(sql: Queryable, days: number): Promise<number> {
  const removed = await sql`
    delete from eventlog_claims.recorded_events where recorded_at < now() - make_interval(days => ${days})`
  return removed.count
}

/** Every producing service and the log-shipper run this at start; the advisory lock in migrate() serialises them. */
export async function ensureClaimCheckStore(sql: Sql): Promise<void> {
  await migrate(sql, { schema: CLAIM_CHECK_SCHEMA, migrations: claimCheckMigrations })
}

export function claimCheckStore(sql: Sql) {
  return {
    async put(tx: Queryable, payload: { id: string; service: string; context: string }): Promise<void> {
      await tx`insert into eventlog_claims.payloads ${tx(payload)}`
    },
    /** Payloads by id; a missing id was already shipped and cleaned up (a redelivery), or never committed. */
    async get(ids: string[]): Promise<Map<string, string>> {
      if (ids.length === 0) return new Map()
      const rows = await sql<{ id: string; context: string }[]>`
        select id, context from eventlog_claims.payloads where id = any(${ids}::uuid[])`
      return new Map(rows.map((r) => [r.id, r.context]))
    },
    async remove(ids: string[]): Promise<number> {
      if (ids.length === 0) return 0
      const result = await sql`delete from eventlog_claims.payloads where id = any(${ids}::uuid[])`
      return result.count
    },
    /** Age in seconds of the oldest payload waiting: a growing value means the shipper is stuck. */
    async oldestAgeSeconds(): Promise<number> {
      const [row] = await sql<{ age: number | null }[]>`
        select extract(epoch from now() - min(created_at))::float8 as age from eventlog_claims.payloads`
      return row?.age ?? 0
    },
  }
}

export type ClaimCheckStore = ReturnType<typeof claimCheckStore>
