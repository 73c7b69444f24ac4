import { postLiked } from '@platform/contracts'
import { ProblemError } from '@platform/http'
import type { IdempotentOutcome } from '../idempotency/idempotency.js'
import { feedProblems } from '../problems.js'
import type { LikeView } from '../views.js'
import { type CommandDeps, type CommandInput, recordFact } from './command-deps.js'

export interface PostCommandInput extends CommandInput {
  postId: string
}

export const unknownPost = (postId: string) =>
  new ProblemError(feedProblems.unknownPost, { detail: `There is no post ${postId}.` })

/**
 * PUT /v1/posts/:id/like: the user likes the post. PUT, because the state it sets is the same however often it is
 * sent: liking a post one already likes is not an error and changes nothing. It answers 200 with the same state and
 * writes and publishes nothing (no like row, no count, no event: nothing happened). Whether a like is new is decided
 * by the insert into likes (its primary key), so two concurrent likes with different keys make one like, one count
 * and one `post.liked`. In one transaction with the idempotency record, as every command.
 */
export async function likePost(deps: CommandDeps, input: PostCommandInput): Promise<IdempotentOutcome<LikeView>> {
  return deps.idempotency.run(input.idempotency, async (tx) => {
    const post = await deps.posts.find(input.postId, tx)
    if (!post) throw unknownPost(input.postId)
    const likedAt = deps.now?.() ?? new Date()
    const added = await deps.posts.like(input.userId, post.id, likedAt, tx)
    let likeCount = post.like_count
    if (added) {
      likeCount = await deps.posts.addLikes(post.id, 1, tx)
      await recordFact(tx, deps, {
        message: postLiked,
        body: { postId: post.id, authorId: post.author_id, likerId: input.userId, likedAt: likedAt.toISOString() },
        orderingKey: `like:${post.id}:${input.userId}`,
        actorId: input.userId,
        activityKind: 'like',
        objectId: post.id,
        at: likedAt,
      })
    }
    return { status: 200, body: { post_id: post.id, liked: true, like_count: likeCount } }
  })
}
