import type { Queryable, Sql } from '@platform/db'

/**
 * Follows (migrations/0004_commands.sql) and the counts they keep on users (follower_count of the followee,
 * following_count of the follower). Methods take an optional transaction, as the other repositories.
 */
export function createFollowsRepository(sql: Sql) {
  return {
    /** Adds the follow; false when it exists already. */
    async follow(followerId: string, followeeId: string, at: Date, tx: Queryable = sql): Promise<boolean> {
      const rows = await tx`
        insert into follows (follower_id, followee_id, created_at) values (${followerId}, ${followeeId}, ${at})
        on conflict (follower_id, followee_id) do nothing
        returning 1`
      return rows.length === 1
    },

    /** Removes the follow; false when there was none. */
    async unfollow(followerId: string, followeeId: string, tx: Queryable = sql): Promise<boolean> {
      const rows = await tx`
        delete from follows where follower_id = ${followerId} and followee_id = ${followeeId} returning 1`
      return rows.length === 1
    },

    async isFollowing(followerId: string, followeeId: string, tx: Queryable = sql): Promise<boolean> {
      const [row] = await tx<{ following: boolean }[]>`
        select exists (
          select 1 from follows where follower_id = ${followerId} and followee_id = ${followeeId}) as following`
      return row?.following ?? false
    },

    /**
     * follower_count of the followee and following_count of the follower += delta, in the follow's transaction.
     * The two rows are updated in id order: A following B while B follows A would otherwise lock A then B in one
     * transaction and B then A in the other, a deadlock. Returns the followee's new follower_count.
     */
    async addToCounts(followerId: string, followeeId: string, delta: 1 | -1, tx: Queryable = sql): Promise<number> {
      const updates = [
        { id: followerId, column: 'following_count' },
        { id: followeeId, column: 'follower_count' },
      ].sort((a, b) => (a.id < b.id ? -1 : 1))
      let followerCount: number | undefined
      for (const { id, column } of updates) {
        const [row] = await tx<{ follower_count: number }[]>`
          update users set ${tx(column)} = ${tx(column)} + ${delta} where id = ${id} returning follower_count::int`
        if (!row) throw new Error(`follows.addToCounts: no user ${id}`)
        if (id === followeeId) followerCount = row.follower_count
      }
      return followerCount as number
    },
  }
}

export type FollowsRepository = ReturnType<typeof createFollowsRepository>
