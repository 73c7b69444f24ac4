import { userFollowed } from '@platform/contracts'
import type { Tx } from '@platform/db'
import { ProblemError } from '@platform/http'
import type { IdempotentOutcome } from '../idempotency/idempotency.js'
import { feedProblems } from '../problems.js'
import type { FollowView } from '../views.js'
import { type CommandDeps, type CommandInput, recordFact } from './command-deps.js'

export interface UserCommandInput extends CommandInput {
  /** The user to follow or unfollow. */
  followeeId: string
}

export const cannotFollowSelf = () =>
  new ProblemError(feedProblems.cannotFollowSelf, { detail: 'A user cannot follow or unfollow themselves.' })

export const unknownUser = (userId: string) =>
  new ProblemError(feedProblems.unknownUser, { detail: `There is no user ${userId}.` })

/** The followee, checked: not oneself (422) and existing (404). Its current follower count. */
export async function followee(deps: CommandDeps, input: UserCommandInput, tx: Tx): Promise<number> {
  if (input.followeeId === input.userId) throw cannotFollowSelf()
  const user = await deps.users.findById(input.followeeId, tx)
  if (!user) throw unknownUser(input.followeeId)
  return user.follower_count
}

/**
 * PUT /v1/users/:id/follow: the user follows another. A state, like a like: following someone one follows already
 * answers 200 (following: true) and writes and publishes nothing. A new follow adds to the followee's follower_count
 * and the follower's following_count and publishes `user.followed` (what the fan-out worker of part 2 consumes to
 * backfill the follower's feed), in one transaction with the idempotency record.
 */
export async function followUser(deps: CommandDeps, input: UserCommandInput): Promise<IdempotentOutcome<FollowView>> {
  return deps.idempotency.run(input.idempotency, async (tx) => {
    let followerCount = await followee(deps, input, tx)
    const followedAt = deps.now?.() ?? new Date()
    if (await deps.follows.follow(input.userId, input.followeeId, followedAt, tx)) {
      followerCount = await deps.follows.addToCounts(input.userId, input.followeeId, 1, tx)
      await recordFact(tx, deps, {
        message: userFollowed,
        body: { followerId: input.userId, followeeId: input.followeeId, followedAt: followedAt.toISOString() },
        orderingKey: `follow:${input.userId}:${input.followeeId}`,
        actorId: input.userId,
        activityKind: 'follow',
        objectId: input.followeeId,
        at: followedAt,
      })
    }
    return { status: 200, body: { user_id: input.followeeId, following: true, follower_count: followerCount } }
  })
}
