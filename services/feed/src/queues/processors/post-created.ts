import { fanoutBatch, type PostCreatedV1 } from '@platform/contracts'
import { type IncomingMessage, PermanentError } from '@platform/messaging'
import { enqueueMessage } from '@platform/outbox'
import { authorLockKey } from '../../projections/author-lock.js'
import { nextFanoutPage } from '../../projections/fanout-page.js'
import { finishFanoutJob } from '../../projections/finish-fanout-job.js'
import { insertLargeAuthor } from '../../projections/insert-large-author.js'
import { insertOwnEntry } from '../../projections/insert-own-entry.js'
import { promotePage } from '../../projections/promote-page.js'
import { selectAuthorState } from '../../projections/select-author-state.js'
import { selectPost } from '../../projections/select-post.js'
import { selectRecentPosts } from '../../projections/select-recent-posts.js'
import { startFanoutJob } from '../../projections/start-fanout-job.js'
import type { WorkerDeps } from '../worker-deps.js'
import { timed } from '../worker-metrics.js'

/**
 * Stage 1 of the fan-out (docs/feed.md#fan-out-worker; as Mastodon's FanOutOnWriteService): one post.created
 * becomes one job.
 *
 * Small author (at most FANOUT_MAX_FOLLOWERS followers): the job pages through the author's followers by keyset
 * (follows_followee) and enqueues one fanoutBatch message per page (FEED_FANOUT_BATCH_SIZE ids; the first page
 * also carries the author, who sees their own posts). Each page is one transaction: the page's read, the cursor's
 * move and the batch's outbox row commit together (fanout_jobs), so a crash between pages resumes after the last
 * committed page, and no batch is enqueued twice. Stage 2 (fanout-batch.ts) writes the entries.
 *
 * Large author (more): no fan-out. The post goes to the author's own feed and to the author's recent-posts list
 * in Redis, which followers' feed reads merge in (their large_follows rows say whom to merge). The first post past
 * the threshold makes the author large for good and promotes them: a paging like the fan-out's copies every
 * follower into large_follows (resumable in the same way). Until it is done, followers not yet copied miss the
 * author's new posts: the consistency window of a promotion, once per author.
 *
 * Safe to run twice: the job's row (fanout_jobs, keyed by the post) says it finished (the message is acked at
 * once) or where it stands (it resumes at its cursor). A promotion resumes at its own cursor (large_authors).
 */
export function createPostCreatedProcessor(deps: WorkerDeps) {
  const { sql, config, metrics, store } = deps

  async function fanOut(post: PostCreatedV1): Promise<void> {
    for (;;) {
      const done = await sql.begin(async (tx) => {
        const page = await nextFanoutPage(tx, post.postId, config.FEED_FANOUT_BATCH_SIZE, deps.now())
        if (!page.open) return true
        const followerIds = page.first ? [post.authorId, ...page.followerIds] : page.followerIds
        if (followerIds.length > 0) {
          // No ordering key: batches are independent, and rows without one spread over the relays' buckets.
          await enqueueMessage(tx, fanoutBatch, { ...post, followerIds })
          metrics.batches.inc()
        }
        return page.followerIds.length < config.FEED_FANOUT_BATCH_SIZE
      })
      if (done) return
    }
  }

  async function pull(post: PostCreatedV1, promoted: boolean): Promise<void> {
    const createdAt = new Date(post.createdAt)
    await insertOwnEntry(sql, { ...post, createdAt })
    await store.addToTimelines([post.authorId], [post])
    if (!(await store.addAuthorPost(post.authorId, post.postId))) {
      // Missing list (first post as a large account, a flushed Redis): rebuilt from posts_author, which has this post.
      await store.completeAuthorPosts(post.authorId, await selectRecentPosts(sql, post.authorId, store.size))
    }
    metrics.pulls.inc()
    metrics.lag.observe({ path: 'pull' }, Math.max(0, (deps.now().getTime() - createdAt.getTime()) / 1000))
    if (promoted) return
    // Promotion: pages share the author lock with fan-out batches (an unfollow's removal waits for a page).
    for (;;) {
      const copied = await sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock_shared(hashtextextended(${authorLockKey(post.authorId)}, 0))`
        return promotePage(tx, post.authorId, config.FEED_FANOUT_BATCH_SIZE, deps.now())
      })
      if (copied < config.FEED_FANOUT_BATCH_SIZE) return
    }
  }

  return async function handle(message: IncomingMessage<PostCreatedV1>): Promise<void> {
    const post = message.body
    await timed(metrics, 'post_created', async () => {
      const row = await selectPost(sql, post.postId)
      // The post commits before its event is published: no row means a producer's bug, which no retry fixes.
      if (!row) throw new PermanentError(`unknown post ${post.postId}`)
      if (row.author_id !== post.authorId) {
        throw new PermanentError(`post ${post.postId} is by ${row.author_id}, not ${post.authorId}`)
      }
      if ((await startFanoutJob(sql, post.postId, post.authorId)).finished) return
      const author = await selectAuthorState(sql, post.authorId)
      if (!author) throw new PermanentError(`unknown author ${post.authorId}`)
      if (row.deleted) {
        await finishFanoutJob(sql, post.postId, deps.now())
      } else if (author.large || author.follower_count > config.FANOUT_MAX_FOLLOWERS) {
        if (!author.large && (await insertLargeAuthor(sql, post.authorId, deps.now()))) {
          deps.logger.info(
            { authorId: post.authorId, followers: author.follower_count },
            'author is a large account from now on: posts merged at read time',
          )
        }
        await pull(post, author.promoted)
        await finishFanoutJob(sql, post.postId, deps.now())
      } else {
        await fanOut(post)
      }
    })
  }
}
