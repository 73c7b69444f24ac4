import { postUnliked } from '@platform/contracts'
import type { IdempotentOutcome } from '../idempotency/idempotency.js'
import type { LikeView } from '../views.js'
import { type CommandDeps, recordFact } from './command-deps.js'
import { type PostCommandInput, unknownPost } from './like-post.js'

/**
 * DELETE /v1/posts/:id/like: the user no longer likes the post. Like the like, it sets a state: unliking a post one
 * does not like answers 200 (liked: false) and writes and publishes nothing. A removed like decrements like_count
 * and publishes `post.unliked`, in one transaction with the idempotency record.
 */
export async function unlikePost(deps: CommandDeps, input: PostCommandInput): Promise<IdempotentOutcome<LikeView>> {
  return deps.idempotency.run(input.idempotency, async (tx) => {
    const post = await deps.posts.find(input.postId, tx)
    if (!post) throw unknownPost(input.postId)
    const removed = await deps.posts.unlike(input.userId, post.id, tx)
    let likeCount = post.like_count
    if (removed) {
      const unlikedAt = deps.now?.() ?? new Date()
      likeCount = await deps.posts.addLikes(post.id, -1, tx)
      await recordFact(tx, deps, {
        message: postUnliked,
        body: { postId: post.id, authorId: post.author_id, likerId: input.userId, unlikedAt: unlikedAt.toISOString() },
        orderingKey: `like:${post.id}:${input.userId}`,
        actorId: input.userId,
        activityKind: 'unlike',
        objectId: post.id,
        at: unlikedAt,
      })
    }
    return { status: 200, body: { post_id: post.id, liked: false, like_count: likeCount } }
  })
}
