import type { FanoutBatchV1 } from '@platform/contracts'
import type { IncomingMessage } from '@platform/messaging'
import { withAuthorLock } from '../../projections/author-lock.js'
import { insertFeedBatch } from '../../projections/insert-feed-batch.js'
import type { WorkerDeps } from '../worker-deps.js'
import { timed } from '../worker-metrics.js'

/**
 * Stage 2 of the fan-out: one batch of followers gets the post. ONE insert into user_feed (followers who still
 * follow; `on conflict do nothing`), committed, then ONE Redis pipeline to the timelines of those of them who are
 * active (timeline-store addToTimelines: one script call per shard). PostgreSQL first: a timeline being rebuilt
 * from user_feed at this moment either reads the row or already exists for the Redis write (timeline-store.ts).
 * Both under the author's lock, shared (author-lock.ts): an unfollow cannot slip in between.
 *
 * Safe to run twice, with no inbox: the insert writes nothing the second time, and the Redis write adds what is
 * already there (and does add it when the first run died between the commit and Redis).
 */
export function createFanoutBatchProcessor(deps: WorkerDeps) {
  const { sql, metrics, store } = deps
  return async function handle(message: IncomingMessage<FanoutBatchV1>): Promise<void> {
    await timed(metrics, 'fanout_batch', async () => {
      const batch = message.body
      const createdAt = new Date(batch.createdAt)
      const { inserted, timelines } = await withAuthorLock(sql, batch.authorId, 'shared', async (db) => {
        const written = await insertFeedBatch(db, { ...batch, createdAt })
        const live = await store.addToTimelines(written.recipients, [batch])
        return { inserted: written.inserted, timelines: live }
      })
      metrics.entries.inc({ store: 'postgres', source: 'fanout' }, inserted)
      metrics.entries.inc({ store: 'redis', source: 'fanout' }, timelines)
      metrics.lag.observe({ path: 'push' }, Math.max(0, (deps.now().getTime() - createdAt.getTime()) / 1000))
    })
  }
}
