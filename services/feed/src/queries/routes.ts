import { Type } from '@platform/config'
import type { ServiceApp } from '@platform/http'
import type { onRequestAsyncHookHandler } from 'fastify'
import { authOf, BEARER_SECURITY } from '../auth/authenticate.js'
import type { PostsRepository } from '../posts/posts-repository.js'
import { PostView, ProfileView, UserProfileView } from '../views.js'
import { readPost } from './read-post.js'
import { type ProfileDeps, readMe, readProfile } from './read-profile.js'

export interface QueryRoutesOptions extends ProfileDeps {
  posts: PostsRepository
  authenticate: onRequestAsyncHookHandler
}

const IdParams = (what: string) =>
  Type.Object({ id: Type.String({ format: 'uuid', description: `The ${what}'s id (a UUID).` }) })

/** Answers about one user: never stored by a shared cache. */
const PRIVATE = 'private, no-cache'

/**
 * The reads of the command side's tables (docs/feed.md#commands): profiles and single posts. Behind the bearer
 * authentication (onRequest, so a request without a token is a 401 before anything else); an id that is not a UUID
 * is a 400 from the params schema, a NUL in it a 400 from the platform's request guards, both before any SQL.
 */
export async function registerQueryRoutes(app: ServiceApp, options: QueryRoutesOptions): Promise<void> {
  await app.register(async function queryRoutes(scope: ServiceApp) {
    scope.addHook('onRequest', options.authenticate)
    scope.addHook('onSend', async (_request, reply, payload) => {
      if (reply.statusCode < 400) reply.header('cache-control', PRIVATE)
      return payload
    })

    scope.get(
      '/v1/me',
      {
        schema: {
          summary: 'The caller’s profile',
          tags: ['users'],
          security: BEARER_SECURITY,
          response: { 200: ProfileView },
        },
      },
      async (request) => readMe(options, authOf(request).userId),
    )

    scope.get(
      '/v1/users/:id',
      {
        schema: {
          summary: 'A user’s profile',
          description: 'The profile with its follower, following and post counts, and whether the caller follows it.',
          tags: ['users'],
          security: BEARER_SECURITY,
          params: IdParams('user'),
          response: { 200: UserProfileView },
        },
      },
      async (request) => readProfile(options, authOf(request).userId, request.params.id.toLowerCase()),
    )

    scope.get(
      '/v1/posts/:id',
      {
        schema: {
          summary: 'A post',
          description: 'The post with its author, like count and whether the caller likes it.',
          tags: ['posts'],
          security: BEARER_SECURITY,
          params: IdParams('post'),
          response: { 200: PostView },
        },
      },
      async (request) => readPost(options.posts, authOf(request).userId, request.params.id.toLowerCase()),
    )
  })
}
