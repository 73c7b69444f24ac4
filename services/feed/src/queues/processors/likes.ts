import type { LikeEventV1 } from '@platform/contracts'
import { postLiked, postUnliked } from '@platform/contracts'
import { type IncomingMessage, PermanentError } from '@platform/messaging'
import { lockLikePair } from '../../projections/hot-likes-lock.js'
import { selectLike } from '../../projections/select-like.js'
import type { WorkerDeps } from '../worker-deps.js'
import { timed } from '../worker-metrics.js'

/**
 * post.liked and post.unliked (one queue): the hot feed's hourly like buckets (keys.ts, hot-likes.ts). Both read
 * the likes row as it is now and reconcile the buckets with it, inside a transaction that holds the (post, liker)
 * pair's advisory lock until Redis has answered: the read and the write of one pair are never interleaved with
 * another handler's of the same pair. During a rebuild of the buckets from likes the handler fails at once and is
 * retried after it (projections/hot-likes-lock.ts). Idempotent and order-free (hot-likes.ts). The post's like_count
 * is the command's (posts.like_count, in the like's own transaction): nothing to project for it.
 */
export function createLikesProcessor(deps: WorkerDeps) {
  const { sql, hotLikes, metrics } = deps
  return async function handle(message: IncomingMessage<LikeEventV1>): Promise<void> {
    const kind = message.type === postLiked.type ? 'liked' : message.type === postUnliked.type ? 'unliked' : undefined
    if (!kind)
      throw new PermanentError(`feed.likes takes ${postLiked.type} and ${postUnliked.type}, not ${message.type}`)
    const { postId, likerId } = message.body
    await timed(metrics, kind, () =>
      sql.begin(async (tx) => {
        await lockLikePair(tx, postId, likerId)
        const likedAt = await selectLike(tx, likerId, postId)
        await hotLikes.reconcile(postId, likerId, likedAt, deps.now())
      }),
    )
  }
}
