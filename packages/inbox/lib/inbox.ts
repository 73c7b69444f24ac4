import type { Migration, Sql, Tx } from '@platform/db'

/**
 * The idempotent consumer (https://microservices.io/patterns/communication-style/idempotent-consumer.html):
 * the id of a processed message is inserted in the same transaction as the consumer's effects. A redelivered
 * or republished message finds its id there and changes nothing. Two copies handled at the same instant: the
 * second insert waits on the first one's unique-key lock, then sees the conflict.
 */
export const inboxMigrations: Migration[] = [
  {
    id: 'inbox/0001_inbox',
    sql: `
      create table inbox (
        consumer     text not null,
        message_id   text not null,
        processed_at timestamptz not null default now(),
        primary key (consumer, message_id)
      );
      create index inbox_processed_at on inbox (processed_at);
    `,
  },
]

export type InboxResult<T> = { duplicate: true } | { duplicate: false; result: T }

export interface InboxBatchResult<T> {
  /** The ids of this call that had not been processed before (recorded now, with the effect). */
  fresh: Set<string>
  result: T
}

export interface Inbox {
  /** Runs `effect` in a transaction unless `messageId` was already processed by this consumer. */
  process<T>(messageId: string, effect: (tx: Tx) => Promise<T>): Promise<InboxResult<T>>
  /**
   * The bulk form of `process`, for consumers that write many messages in one transaction (a bulk consumer's batch):
   * records every id of `messageIds` not processed yet and runs `effect` with them, in ONE transaction. The ids are
   * inserted in sorted order, so two batches holding some of the same ids lock them in the same order and cannot
   * deadlock; an id an uncommitted batch holds makes the insert wait for that batch's outcome.
   */
  processMany<T>(messageIds: string[], effect: (tx: Tx, fresh: Set<string>) => Promise<T>): Promise<InboxBatchResult<T>>
  /**
   * Whether `messageId` was already processed by this consumer: a cheap check before work that must not start
   * twice (e.g. a status report). Only a hint outside `process`'s transaction: `process` stays the one that decides.
   */
  seen(messageId: string): Promise<boolean>
  /** Forgets ids older than `days`; a message redelivered after that long is not expected. */
  prune(days: number): Promise<number>
}

export function createInbox(sql: Sql, consumer: string): Inbox {
  return {
    async process(messageId, effect) {
      return sql.begin(async (tx) => {
        const claimed = await tx`
          insert into inbox (consumer, message_id) values (${consumer}, ${messageId})
          on conflict do nothing
          returning 1`
        if (claimed.length === 0) return { duplicate: true as const }
        return { duplicate: false as const, result: await effect(tx) }
      }) as Promise<InboxResult<never>>
    },
    async processMany(messageIds, effect) {
      return sql.begin(async (tx) => {
        const claimed = await tx<{ message_id: string }[]>`
          insert into inbox (consumer, message_id)
          select ${consumer}, id from unnest(${[...new Set(messageIds)].sort()}::text[]) as id order by id
          on conflict do nothing
          returning message_id`
        const fresh = new Set(claimed.map((r) => r.message_id))
        return { fresh, result: await effect(tx, fresh) }
      }) as Promise<InboxBatchResult<never>>
    },
    async seen(messageId) {
      const rows = await sql`select 1 from inbox where consumer = ${consumer} and message_id = ${messageId}`
      return rows.length > 0
    },
    async prune(days) {
      const removed = await sql`
        delete from inbox where consumer = ${consumer} and processed_at < now() - make_interval(days => ${days})`
      return removed.count
    },
  }
}
