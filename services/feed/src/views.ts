import { type Static, Type } from '@platform/config'
import type { UserRow } from './users/users-repository.js'

/**
 * What the feed's API answers with (snake_case, times as ISO 8601 UTC), as TypeBox schemas for the routes'
 * `response` (serialisation and the OpenAPI document) and the functions that make them from rows. A command stores
 * its answer for replays (idempotency.ts), so these are plain JSON values, never Dates.
 */
const Id = Type.String({ format: 'uuid' })
const Instant = Type.String({ format: 'date-time' })

export const AuthorView = Type.Object({
  id: Id,
  handle: Type.String(),
  name: Type.String(),
  avatar_url: Type.Union([Type.String(), Type.Null()]),
})

export const PostView = Type.Object(
  {
    id: Id,
    author: AuthorView,
    text: Type.String(),
    like_count: Type.Integer({ minimum: 0 }),
    liked_by_me: Type.Boolean(),
    created_at: Instant,
  },
  { description: 'A post, with its author and whether the caller likes it.' },
)
export type PostView = Static<typeof PostView>

export const ProfileView = Type.Object(
  {
    id: Id,
    handle: Type.String(),
    name: Type.String(),
    avatar_url: Type.Union([Type.String(), Type.Null()]),
    follower_count: Type.Integer({ minimum: 0 }),
    following_count: Type.Integer({ minimum: 0 }),
    post_count: Type.Integer({ minimum: 0 }),
    created_at: Instant,
  },
  { description: 'A user profile with its counts.' },
)
export type ProfileView = Static<typeof ProfileView>

export const UserProfileView = Type.Intersect([
  ProfileView,
  Type.Object({ followed_by_me: Type.Boolean({ description: 'Whether the caller follows this user.' }) }),
])
export type UserProfileView = Static<typeof UserProfileView>

export const LikeView = Type.Object(
  {
    post_id: Id,
    liked: Type.Boolean({ description: 'Whether the caller likes the post now.' }),
    like_count: Type.Integer({ minimum: 0 }),
  },
  { description: 'The like state of a post for the caller.' },
)
export type LikeView = Static<typeof LikeView>

export const FollowView = Type.Object(
  {
    user_id: Id,
    following: Type.Boolean({ description: 'Whether the caller follows the user now.' }),
    follower_count: Type.Integer({ minimum: 0 }),
  },
  { description: 'The follow state of a user for the caller.' },
)
export type FollowView = Static<typeof FollowView>

export function profileView(row: UserRow): ProfileView {
  return {
    id: row.id,
    handle: row.handle,
    name: row.name,
    avatar_url: row.avatar_url,
    follower_count: row.follower_count,
    following_count: row.following_count,
    post_count: row.post_count,
    created_at: row.created_at.toISOString(),
  }
}
