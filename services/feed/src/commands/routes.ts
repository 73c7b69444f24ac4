import { Type } from '@platform/config'
import { type CoalescingCounter, type ServiceApp, strictValidatorCompiler } from '@platform/http'
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import { authOf, BEARER_SECURITY } from '../auth/authenticate.js'
import type { IdempotentOutcome, IdempotentRequest } from '../idempotency/idempotency.js'
import {
  IDEMPOTENCY_HEADER,
  MAX_KEY_LENGTH,
  parseIdempotencyKey,
  REPLAYED_HEADER,
  requestFingerprint,
} from '../idempotency/idempotency-key.js'
import { FollowView, LikeView, PostView } from '../views.js'
import type { CommandDeps } from './command-deps.js'
import { createPost } from './create-post.js'
import { followUser } from './follow-user.js'
import { likePost } from './like-post.js'
import { MAX_POST_LENGTH, normalisePostText } from './post-text.js'
import { unfollowUser } from './unfollow-user.js'
import { unlikePost } from './unlike-post.js'
import { type UserRateLimit, userRateLimit } from './user-rate-limit.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The command's Idempotency-Key, parsed before the body is validated. */
    idempotencyKey?: string
  }
}

export interface CommandRoutesOptions {
  deps: CommandDeps
  /** The bearer authentication of the feed (auth/authenticate.ts). */
  authenticate: onRequestAsyncHookHandler
  rateCounter: CoalescingCounter
  rateLimit: UserRateLimit
}

const IDEMPOTENCY_DOC =
  'A new unique key per operation (a UUID), as a Structured Field string: `Idempotency-Key: "<uuid>"`; the bare ' +
  'form is accepted too. A repeat with the same key and request gets the stored response with ' +
  '`Idempotent-Replayed: true`; with another request 422; while the first still runs 409. Kept 24 h per user.'

/** Every command documents and requires the header; its problems are answered before the body is validated. */
const CommandHeaders = Type.Object({
  [IDEMPOTENCY_HEADER]: Type.String({
    minLength: 1,
    maxLength: MAX_KEY_LENGTH + 2,
    description: IDEMPOTENCY_DOC,
    examples: ['"0190f3a4-6c2e-7c4b-9a51-3c5d2e1f0a77"'],
  }),
})

const IdParams = (what: string) =>
  Type.Object({ id: Type.String({ format: 'uuid', description: `The ${what}'s id (a UUID).` }) })

const CreatePostBody = Type.Object(
  {
    text: Type.String({
      description:
        `1 to ${MAX_POST_LENGTH} characters (code points) after Unicode NFC and trimming; line breaks allowed, ` +
        'other control characters not (422 invalid-post-text).',
      examples: ['Hello, feed!'],
    }),
  },
  { additionalProperties: false },
)

/**
 * A command's success response: the view's schema (serialisation, OpenAPI), with the response headers documented
 * (plain JSON Schema: @fastify/swagger turns each member into a header object).
 */
function commandResponse<S extends object>(view: S, description: string, location = false) {
  return {
    ...view,
    description,
    headers: {
      [REPLAYED_HEADER]: {
        type: 'string',
        enum: ['true'],
        description: 'Present on a replay: the stored response of an earlier request with the same Idempotency-Key.',
      },
      ...(location ? { location: { type: 'string', description: 'The new post: /v1/posts/{id}.' } } : {}),
    },
  }
}

const REPLAY_NOTE = ' A replay of an earlier request with the same Idempotency-Key carries `Idempotent-Replayed: true`.'

/**
 * The command routes (docs/feed.md#commands): each handler reads its checked input, makes one domain call (one
 * file each in this folder, one transaction each) and replies with the outcome, marking a replay. In this scope,
 * before any body is read: authentication (401), then the user's rate limit (429); before the body is validated:
 * the Idempotency-Key (400). Bodies are validated without coercion (strictValidatorCompiler): `{"text": 5}` is a 400.
 */
export async function registerCommandRoutes(app: ServiceApp, options: CommandRoutesOptions): Promise<void> {
  const { deps } = options

  function idempotencyOf(request: FastifyRequest, input: Record<string, unknown>): IdempotentRequest {
    return {
      userId: authOf(request).userId,
      key: request.idempotencyKey ?? parseIdempotencyKey(request.headers[IDEMPOTENCY_HEADER]),
      fingerprint: requestFingerprint(request.method, request.routeOptions.url ?? request.url, input),
    }
  }

  function reply<B>(res: FastifyReply, outcome: IdempotentOutcome<B>) {
    if (outcome.replayed) res.header(REPLAYED_HEADER, 'true')
    return res.code(outcome.status).send(outcome.body)
  }

  await app.register(async function commandRoutes(scope: ServiceApp) {
    scope.setValidatorCompiler(strictValidatorCompiler)
    scope.addHook('onRequest', options.authenticate)
    scope.addHook('onRequest', userRateLimit(options.rateCounter, options.rateLimit))
    scope.addHook('preValidation', async (request) => {
      request.idempotencyKey = parseIdempotencyKey(request.headers[IDEMPOTENCY_HEADER])
    })

    scope.post(
      '/v1/posts',
      {
        schema: {
          summary: 'Create a post',
          description: `A new, immutable text post; answers 201 with the post and its Location.${REPLAY_NOTE}`,
          tags: ['posts'],
          security: BEARER_SECURITY,
          headers: CommandHeaders,
          body: CreatePostBody,
          response: { 201: commandResponse(PostView, 'The post, created (or its replay).', true) },
        },
      },
      async (request, res) => {
        const text = normalisePostText(request.body.text)
        const outcome = await createPost(deps, {
          userId: authOf(request).userId,
          text,
          idempotency: idempotencyOf(request, { text }),
        })
        res.header('location', `/v1/posts/${outcome.body.id}`)
        return reply(res, outcome)
      },
    )

    const likeSchema = (summary: string, description: string) => ({
      summary,
      description: `${description}${REPLAY_NOTE}`,
      tags: ['posts'],
      security: BEARER_SECURITY,
      headers: CommandHeaders,
      params: IdParams('post'),
      response: { 200: commandResponse(LikeView, 'The like state of the post for the caller.') },
    })

    scope.put(
      '/v1/posts/:id/like',
      {
        schema: likeSchema(
          'Like a post',
          'Idempotent: liking a post one already likes answers 200 as well and changes and publishes nothing.',
        ),
      },
      async (request, res) => {
        const postId = request.params.id.toLowerCase()
        const { userId } = authOf(request)
        return reply(res, await likePost(deps, { userId, postId, idempotency: idempotencyOf(request, { postId }) }))
      },
    )

    scope.delete(
      '/v1/posts/:id/like',
      {
        schema: likeSchema(
          'Unlike a post',
          'Idempotent: unliking a post one does not like answers 200 as well and changes and publishes nothing.',
        ),
      },
      async (request, res) => {
        const postId = request.params.id.toLowerCase()
        const { userId } = authOf(request)
        return reply(res, await unlikePost(deps, { userId, postId, idempotency: idempotencyOf(request, { postId }) }))
      },
    )

    const followSchema = (summary: string, description: string) => ({
      summary,
      description: `${description} Following oneself is a 422; an unknown user a 404.${REPLAY_NOTE}`,
      tags: ['users'],
      security: BEARER_SECURITY,
      headers: CommandHeaders,
      params: IdParams('user'),
      response: { 200: commandResponse(FollowView, 'The follow state of the user for the caller.') },
    })

    scope.put(
      '/v1/users/:id/follow',
      {
        schema: followSchema(
          'Follow a user',
          'Idempotent: following a user one follows already answers 200 and changes and publishes nothing.',
        ),
      },
      async (request, res) => {
        const followeeId = request.params.id.toLowerCase()
        const { userId } = authOf(request)
        const idempotency = idempotencyOf(request, { followeeId })
        return reply(res, await followUser(deps, { userId, followeeId, idempotency }))
      },
    )

    scope.delete(
      '/v1/users/:id/follow',
      {
        schema: followSchema(
          'Unfollow a user',
          'Idempotent: unfollowing a user one does not follow answers 200 and changes and publishes nothing.',
        ),
      },
      async (request, res) => {
        const followeeId = request.params.id.toLowerCase()
        const { userId } = authOf(request)
        const idempotency = idempotencyOf(request, { followeeId })
        return reply(res, await unfollowUser(deps, { userId, followeeId, idempotency }))
      },
    )
  })
}
