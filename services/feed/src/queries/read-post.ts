import { unknownPost } from '../commands/like-post.js'
import type { PostsRepository } from '../posts/posts-repository.js'
import type { PostView } from '../views.js'

/** GET /v1/posts/:id: a visible post with its author, like_count and whether the caller likes it. */
export async function readPost(posts: PostsRepository, viewerId: string, postId: string): Promise<PostView> {
  const row = await posts.findView(postId, viewerId)
  if (!row) throw unknownPost(postId)
  return {
    id: row.id,
    author: { id: row.author_id, handle: row.author_handle, name: row.author_name, avatar_url: row.author_avatar_url },
    text: row.text,
    like_count: row.like_count,
    liked_by_me: row.liked_by_me,
    created_at: row.created_at.toISOString(),
  }
}
