import { type Static, Type } from '@platform/config'
import { AuthorView } from '../views.js'

/**
 * What the feeds answer with (docs/feed.md#personal-feed, #hot-feed), as TypeBox schemas for the routes' `response`
 * (serialisation and the OpenAPI document). Snake case and ISO 8601 times, as the rest of the feed's API.
 */
export const FeedPostView = Type.Object(
  {
    id: Type.String({ format: 'uuid', description: 'UUIDv7: posts sort by it as they were made.' }),
    text: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
  },
  { description: 'The post itself.' },
)

export const FeedItemView = Type.Object(
  {
    post: FeedPostView,
    author: AuthorView,
    like_count: Type.Integer({ minimum: 0 }),
    liked_by_me: Type.Boolean({ description: 'Whether the caller likes the post.' }),
  },
  { description: 'A post of the personal feed, with its author and whether the caller likes it.' },
)
export type FeedItemView = Static<typeof FeedItemView>

const NextCursor = (what: string) =>
  Type.Union([Type.String(), Type.Null()], {
    description: `Pass as \`cursor\` for the next page of ${what}; null on the last page.`,
  })

export const FeedPageView = Type.Object(
  { items: Type.Array(FeedItemView), next_cursor: NextCursor('older posts') },
  { description: 'A page of the personal feed, newest first.' },
)
export type FeedPageView = Static<typeof FeedPageView>

export const HotItemView = Type.Object(
  {
    post: FeedPostView,
    author: AuthorView,
    like_count: Type.Integer({ minimum: 0, description: 'All likes of the post, when the ranking was computed.' }),
    score: Type.Number({
      minimum: 0,
      description: 'Likes in the 24 hours before the ranking was computed (the oldest hour weighted by its share).',
    }),
  },
  { description: 'A post of the hot feed.' },
)
export type HotItemView = Static<typeof HotItemView>

export const HotPageView = Type.Object(
  {
    items: Type.Array(HotItemView),
    next_cursor: NextCursor('the same ranking'),
    computed_at: Type.String({ format: 'date-time', description: 'When the ranking of these pages was computed.' }),
  },
  { description: 'A page of the hot feed: posts by likes in the last 24 hours, ties by the newer post first.' },
)
export type HotPageView = Static<typeof HotPageView>

export const FeedQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Posts per page.' }),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 256, description: 'next_cursor of the previous page.' }),
  ),
})

export const HotQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 50, description: 'Posts per page.' }),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 256, description: 'next_cursor of the previous page.' }),
  ),
})
