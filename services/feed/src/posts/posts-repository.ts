import type { Queryable, Sql } from '@platform/db'

/**
 * Posts and likes (migrations/0004_commands.sql). Methods take an optional transaction: the commands call them in
 * theirs (src/commands/), the reads on the pool. A withdrawn post (deleted_at set) is invisible to all of them.
 */
export interface PostRow {
  id: string
  author_id: string
  text: string
  like_count: number
  created_at: Date
}

/** A post as a reader sees it: with its author and whether the reader likes it. */
export interface PostViewRow extends PostRow {
  author_handle: string
  author_name: string
  author_avatar_url: string | null
  liked_by_me: boolean
}

export interface NewPost {
  id: string
  authorId: string
  text: string
  createdAt: Date
}

export function createPostsRepository(sql: Sql) {
  return {
    async insert(post: NewPost, tx: Queryable = sql): Promise<PostRow> {
      const [row] = await tx<PostRow[]>`
        insert into posts (id, author_id, text, created_at)
        values (${post.id}, ${post.authorId}, ${post.text}, ${post.createdAt})
        returning id, author_id, text, like_count::int, created_at`
      return row as PostRow
    },

    /**
     * post_count += 1 of the author, in the post's transaction; returns the author's profile fields for the post's
     * view, or undefined for an unknown user (whose post would break the foreign key).
     */
    async countPost(
      authorId: string,
      tx: Queryable = sql,
    ): Promise<{ handle: string; name: string; avatar_url: string | null } | undefined> {
      const [row] = await tx<{ handle: string; name: string; avatar_url: string | null }[]>`
        update users set post_count = post_count + 1 where id = ${authorId} returning handle, name, avatar_url`
      return row
    },

    /** A visible post, for a command about it (like, unlike). */
    async find(id: string, tx: Queryable = sql): Promise<PostRow | undefined> {
      const [row] = await tx<PostRow[]>`
        select id, author_id, text, like_count::int, created_at from posts where id = ${id} and deleted_at is null`
      return row
    },

    /** A visible post with its author and `liked_by_me` of `viewerId`. */
    async findView(id: string, viewerId: string, tx: Queryable = sql): Promise<PostViewRow | undefined> {
      const [row] = await tx<PostViewRow[]>`
        select p.id, p.author_id, p.text, p.like_count::int, p.created_at,
          u.handle as author_handle, u.name as author_name, u.avatar_url as author_avatar_url,
          exists (select 1 from likes l where l.user_id = ${viewerId} and l.post_id = p.id) as liked_by_me
        from posts p join users u on u.id = p.author_id
        where p.id = ${id} and p.deleted_at is null`
      return row
    },

    /** Adds the like; false when the user already likes the post (one like per user and post). */
    async like(userId: string, postId: string, at: Date, tx: Queryable = sql): Promise<boolean> {
      const rows = await tx`
        insert into likes (user_id, post_id, created_at) values (${userId}, ${postId}, ${at})
        on conflict (user_id, post_id) do nothing
        returning 1`
      return rows.length === 1
    },

    /** Removes the like; false when there was none. */
    async unlike(userId: string, postId: string, tx: Queryable = sql): Promise<boolean> {
      const rows = await tx`delete from likes where user_id = ${userId} and post_id = ${postId} returning 1`
      return rows.length === 1
    },

    /**
     * like_count += delta, in the transaction that added or removed the like, so the count is the number of rows
     * in likes for the post at every commit. Returns the new count. The row lock it takes serialises the likes of
     * one post (a very hot post would want a sharded or asynchronous counter; not needed at this scale).
     */
    async addLikes(postId: string, delta: 1 | -1, tx: Queryable = sql): Promise<number> {
      const [row] = await tx<{ like_count: number }[]>`
        update posts set like_count = like_count + ${delta} where id = ${postId} returning like_count::int`
      if (!row) throw new Error(`posts.addLikes: no post ${postId}`)
      return row.like_count
    },
  }
}

export type PostsRepository = ReturnType<typeof createPostsRepository>
