import { postCreated } from '@platform/contracts'
import { ProblemError } from '@platform/http'
import { v7 as uuidv7 } from 'uuid'
import type { IdempotentOutcome } from '../idempotency/idempotency.js'
import { feedProblems } from '../problems.js'
import type { PostView } from '../views.js'
import { type CommandDeps, type CommandInput, recordFact } from './command-deps.js'

export interface CreatePostInput extends CommandInput {
  /** Already normalised and checked (normalisePostText). */
  text: string
}

export const unknownAuthor = () =>
  new ProblemError(feedProblems.unknownUser, { detail: 'The user of the access token does not exist.' })

/**
 * POST /v1/posts: a new, immutable text post. In one transaction: the author's post_count, the post, the
 * `post.created` event, the `post.created` activity and event-log record, and the idempotency record with the answer
 * (201 and the post). The id is a UUIDv7 made from the post's creation time (RFC 9562 §5.7), so ids sort as posts
 * were made and a feed pages on the id alone.
 */
export async function createPost(deps: CommandDeps, input: CreatePostInput): Promise<IdempotentOutcome<PostView>> {
  return deps.idempotency.run(input.idempotency, async (tx) => {
    const createdAt = deps.now?.() ?? new Date()
    const author = await deps.posts.countPost(input.userId, tx)
    if (!author) throw unknownAuthor()
    const post = await deps.posts.insert(
      { id: uuidv7({ msecs: createdAt.getTime() }), authorId: input.userId, text: input.text, createdAt },
      tx,
    )
    await recordFact(tx, deps, {
      message: postCreated,
      body: { postId: post.id, authorId: post.author_id, createdAt: createdAt.toISOString() },
      orderingKey: `post:${post.id}`,
      actorId: input.userId,
      activityKind: 'post.created',
      objectId: post.id,
      at: createdAt,
    })
    return {
      status: 201,
      body: {
        id: post.id,
        author: { id: input.userId, handle: author.handle, name: author.name, avatar_url: author.avatar_url },
        text: post.text,
        like_count: post.like_count,
        liked_by_me: false,
        created_at: createdAt.toISOString(),
      },
    }
  })
}
