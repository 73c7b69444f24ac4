import { userUnfollowed } from '@platform/contracts'
import type { IdempotentOutcome } from '../idempotency/idempotency.js'
import type { FollowView } from '../views.js'
import { type CommandDeps, recordFact } from './command-deps.js'
import { followee, type UserCommandInput } from './follow-user.js'

/**
 * DELETE /v1/users/:id/follow: the user stops following another. Unfollowing someone one does not follow answers 200
 * (following: false) and writes and publishes nothing. A removed follow takes back both counts and publishes
 * `user.unfollowed` (the fan-out worker removes the followee's posts from the follower's feed), in one transaction
 * with the idempotency record.
 */
export async function unfollowUser(deps: CommandDeps, input: UserCommandInput): Promise<IdempotentOutcome<FollowView>> {
  return deps.idempotency.run(input.idempotency, async (tx) => {
    let followerCount = await followee(deps, input, tx)
    if (await deps.follows.unfollow(input.userId, input.followeeId, tx)) {
      const unfollowedAt = deps.now?.() ?? new Date()
      followerCount = await deps.follows.addToCounts(input.userId, input.followeeId, -1, tx)
      await recordFact(tx, deps, {
        message: userUnfollowed,
        body: { followerId: input.userId, followeeId: input.followeeId, unfollowedAt: unfollowedAt.toISOString() },
        orderingKey: `follow:${input.userId}:${input.followeeId}`,
        actorId: input.userId,
        activityKind: 'unfollow',
        objectId: input.followeeId,
        at: unfollowedAt,
      })
    }
    return { status: 200, body: { user_id: input.followeeId, following: false, follower_count: followerCount } }
  })
}
