import type { Queryable } from '@platform/db'

/**
 * Whether `followerId` follows `followeeId` now: what the follow and unfollow handlers act on, rather than on the
 * event (a retried follow may arrive after the unfollow that undid it; the current state is the last word).
 */
export async function selectFollows(db: Queryable, followerId: string, followeeId: string): Promise<boolean> {
  const [row] = await db<{ follows: boolean }[]>`
    select exists (
      select 1 from follows where follower_id = ${followerId} and followee_id = ${followeeId}) as follows`
  return row?.follows ?? false
}
