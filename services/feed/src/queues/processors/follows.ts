import type { FollowEventV1, UserFollowedV1, UserUnfollowedV1 } from '@platform/contracts'
import { userFollowed, userUnfollowed } from '@platform/contracts'
import { type IncomingMessage, PermanentError } from '@platform/messaging'
import { retentionStart } from '../../posts/post-ids.js'
import { withAuthorLock } from '../../projections/author-lock.js'
import { backfillFeed } from '../../projections/backfill-feed.js'
import { deleteAuthorEntries } from '../../projections/delete-author-entries.js'
import { deleteLargeFollow } from '../../projections/delete-large-follow.js'
import { insertLargeFollow } from '../../projections/insert-large-follow.js'
import { selectAuthorState } from '../../projections/select-author-state.js'
import { selectFollows } from '../../projections/select-follows.js'
import type { WorkerDeps } from '../worker-deps.js'
import { timed } from '../worker-metrics.js'

/**
 * user.followed and user.unfollowed (one queue). Each acts on the CURRENT state of the follow, read under the
 * followee's lock (author-lock.ts, alone): a follow whose unfollow has committed since does nothing (the unfollow's
 * handler removes), an unfollow followed by a new follow does nothing (the new follow's handler backfills). So the
 * order in which retries deliver them does not matter, and running either twice changes nothing.
 *
 *   followed:   a large account: a large_follows row (reads merge its posts). Otherwise the followee's newest
 *               FEED_BACKFILL_POSTS posts of the last FEED_RETENTION_DAYS into user_feed (one statement), then
 *               into the follower's timeline if it
 *               is live.
 *   unfollowed: the followee's entries leave user_feed and the timeline; the large_follows row goes.
 */
export function createFollowsProcessor(deps: WorkerDeps) {
  const { sql, store, metrics, config, now } = deps

  async function followed(event: UserFollowedV1): Promise<void> {
    await withAuthorLock(sql, event.followeeId, 'exclusive', async (db) => {
      if (!(await selectFollows(db, event.followerId, event.followeeId))) return
      const followee = await selectAuthorState(db, event.followeeId)
      if (!followee) return
      if (followee.large) {
        await insertLargeFollow(db, event.followerId, event.followeeId)
        return
      }
      const { entries, inserted } = await backfillFeed(db, event.followerId, event.followeeId, {
        count: config.FEED_BACKFILL_POSTS,
        // Nothing older than the retention (docs/feed.md#retention): no page would show it, the next prune deletes it.
        since: retentionStart(config.FEED_RETENTION_DAYS, now()),
      })
      const timelines = await store.addToTimelines([event.followerId], entries)
      metrics.entries.inc({ store: 'postgres', source: 'backfill' }, inserted)
      metrics.entries.inc({ store: 'redis', source: 'backfill' }, timelines * entries.length)
    })
  }

  async function unfollowed(event: UserUnfollowedV1): Promise<void> {
    await withAuthorLock(sql, event.followeeId, 'exclusive', async (db) => {
      if (await selectFollows(db, event.followerId, event.followeeId)) return
      await deleteAuthorEntries(db, event.followerId, event.followeeId)
      await deleteLargeFollow(db, event.followerId, event.followeeId)
      await store.removeAuthor(event.followerId, event.followeeId)
    })
  }

  return async function handle(message: IncomingMessage<FollowEventV1>): Promise<void> {
    if (message.type === userFollowed.type) {
      await timed(metrics, 'followed', () => followed(message.body as UserFollowedV1))
    } else if (message.type === userUnfollowed.type) {
      await timed(metrics, 'unfollowed', () => unfollowed(message.body as UserUnfollowedV1))
    } else {
      throw new PermanentError(
        `feed.follows takes ${userFollowed.type} and ${userUnfollowed.type}, not ${message.type}`,
      )
    }
  }
}
