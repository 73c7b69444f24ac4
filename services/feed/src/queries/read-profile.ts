import { unknownUser } from '../commands/follow-user.js'
import type { FollowsRepository } from '../follows/follows-repository.js'
import type { UsersRepository } from '../users/users-repository.js'
import { type ProfileView, profileView, type UserProfileView } from '../views.js'

export interface ProfileDeps {
  users: UsersRepository
  follows: FollowsRepository
}

/** GET /v1/me: the caller's own profile and counts. */
export async function readMe(deps: ProfileDeps, userId: string): Promise<ProfileView> {
  const user = await deps.users.findById(userId)
  if (!user) throw unknownUser(userId)
  return profileView(user)
}

/**
 * GET /v1/users/:id: a profile with its follower, following and post counts (kept on the users row by the commands,
 * so this is one row), and whether the caller follows the user.
 */
export async function readProfile(deps: ProfileDeps, viewerId: string, userId: string): Promise<UserProfileView> {
  const [user, followed] = await Promise.all([
    deps.users.findById(userId),
    viewerId === userId ? false : deps.follows.isFollowing(viewerId, userId),
  ])
  if (!user) throw unknownUser(userId)
  return { ...profileView(user), followed_by_me: followed }
}
