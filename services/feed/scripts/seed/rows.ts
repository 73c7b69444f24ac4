import { iso, NULL } from './copy.js'
import {
  feedOf,
  followCreatedMs,
  followingCount,
  handleOf,
  postCountOf,
  postIdOf,
  type SeedGraph,
  windowStart,
} from './graph.js'

/**
 * The COPY lines of every table the seed fills, from the graph, in primary-key order where the key allows it (users,
 * follows, likes and user_feed by user, posts by id), so each B-tree grows at its right edge instead of at random
 * pages. Columns as in migrations 0002, 0004 and 0010; counts are the graph's, so they match the rows.
 */
export interface TableRows {
  table: string
  columns: readonly string[]
  /** Rows it will yield, for the progress line. */
  count: number
  rows: () => Iterable<string>
}

export function usersRows(g: SeedGraph): TableRows {
  return {
    table: 'users',
    columns: ['id', 'handle', 'name', 'avatar_url', 'follower_count', 'following_count', 'post_count', 'created_at'],
    count: g.userCount,
    *rows() {
      for (let u = 0; u < g.userCount; u++) {
        yield `${g.userIds[u]}\t${handleOf(u)}\tSeed user ${u}\t${NULL}\t${g.followerCount[u]}\t${followingCount(g, u)}\t${postCountOf(g, u)}\t${iso(g.userCreatedMs[u] as number)}`
      }
    },
  }
}

export function followsRows(g: SeedGraph): TableRows {
  return {
    table: 'follows',
    columns: ['follower_id', 'followee_id', 'created_at'],
    count: g.followees.length,
    *rows() {
      for (let u = 0; u < g.userCount; u++) {
        const follower = g.userIds[u]
        for (let e = g.followOffsets[u] as number; e < (g.followOffsets[u + 1] as number); e++) {
          yield `${follower}\t${g.userIds[g.followees[e] as number]}\t${iso(followCreatedMs(g, u, e))}`
        }
      }
    },
  }
}

export function postsRows(g: SeedGraph): TableRows {
  return {
    table: 'posts',
    columns: ['id', 'author_id', 'text', 'like_count', 'created_at'],
    count: g.postAuthor.length,
    *rows() {
      for (let k = 0; k < g.postAuthor.length; k++) {
        const author = g.postAuthor[k] as number
        yield `${postIdOf(g, k)}\t${g.userIds[author]}\tSeed post ${k} by @${handleOf(author)}\t${g.postLikes[k]}\t${iso(g.postMs[k] as number)}`
      }
    },
  }
}

export function likesRows(g: SeedGraph): TableRows {
  return {
    table: 'likes',
    columns: ['user_id', 'post_id', 'created_at'],
    count: g.likedPosts.length,
    *rows() {
      for (let u = 0; u < g.userCount; u++) {
        const user = g.userIds[u]
        for (let i = g.likeOffsets[u] as number; i < (g.likeOffsets[u + 1] as number); i++) {
          yield `${user}\t${postIdOf(g, g.likedPosts[i] as number)}\t${iso(g.likeMs[i] as number)}`
        }
      }
    },
  }
}

/** The read model of the active users: what the fan-out worker would have written for them (graph.ts feedOf). */
export function userFeedRows(g: SeedGraph, count: number): TableRows {
  return {
    table: 'user_feed',
    columns: ['user_id', 'post_id', 'author_id', 'created_at'],
    count,
    *rows() {
      for (const u of g.active) {
        const user = g.userIds[u]
        for (const k of feedOf(g, u)) {
          yield `${user}\t${postIdOf(g, k)}\t${g.userIds[g.postAuthor[k] as number]}\t${iso(g.postMs[k] as number)}`
        }
      }
    },
  }
}

/** Large accounts, promoted before the window (cursor done, promoted_at set): as a finished promotion leaves them. */
export function largeAuthorsRows(g: SeedGraph): TableRows {
  const since = iso(windowStart(g.options))
  return {
    table: 'large_authors',
    columns: ['author_id', 'since', 'promoted_at'],
    count: g.largeAuthors.length,
    *rows() {
      for (const a of g.largeAuthors) yield `${g.userIds[a]}\t${since}\t${since}`
    },
  }
}

/** Every follow of a large account, for every user: what a feed read merges. */
export function largeFollowsRows(g: SeedGraph, count: number): TableRows {
  return {
    table: 'large_follows',
    columns: ['user_id', 'author_id'],
    count,
    *rows() {
      for (let u = 0; u < g.userCount; u++) {
        for (let e = g.followOffsets[u] as number; e < (g.followOffsets[u + 1] as number); e++) {
          const v = g.followees[e] as number
          if (g.large[v]) yield `${g.userIds[u]}\t${g.userIds[v]}`
        }
      }
    },
  }
}
