import { Type } from '@platform/config'
import { ProblemError, type ServiceApp } from '@platform/http'
import type { FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import { feedProblems } from '../problems.js'
import { authRateLimit } from './auth-rate-limit.js'
import { type Authenticate, authOf, BEARER_SECURITY, invalidToken } from './authenticate.js'
import type { ExchangeCode } from './code-grant.js'
import { type Sessions, TokenResponseSchema } from './sessions.js'

/**
 * The token endpoint and the session routes (docs/feed.md#tokens):
 *   POST /v1/auth/token   grant_type=refresh_token (RFC 6749 §6): a new pair for a refresh token, which dies;
 *                         grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.5): a login's code (code-grant.ts)
 *   POST /v1/auth/logout  revokes the session of a refresh token or of the bearer access token's `sid`
 *   GET  /v1/auth/session the bearer token's session: user, id, expiry (401 once revoked)
 * The first two accept application/x-www-form-urlencoded (what RFC 6749 §4.1.3 and §6 specify, and what OAuth
 * client libraries send) and JSON, and are rate limited per client address (auth-rate-limit.ts).
 */
export interface TokenRoutesOptions {
  sessions: Sessions
  authenticate: Authenticate
  config: Pick<Config, 'FEED_AUTH_RATE_LIMIT_MAX' | 'FEED_AUTH_RATE_LIMIT_WINDOW_MS'>
  /** The authorization_code grant (login-feature.ts). */
  exchangeCode: ExchangeCode
}

const FORM = 'application/x-www-form-urlencoded'
/** A token request is a few hundred bytes; nothing on these routes needs the service-wide body limit. */
const BODY_LIMIT = 8192

const tokenBody = Type.Object({
  grant_type: Type.String({ maxLength: 64, description: 'refresh_token or authorization_code' }),
  refresh_token: Type.Optional(Type.String({ maxLength: 512 })),
  code: Type.Optional(Type.String({ maxLength: 128, description: 'authorization_code: the callback’s code' })),
  code_verifier: Type.Optional(Type.String({ maxLength: 128, description: 'authorization_code: RFC 7636' })),
  redirect_uri: Type.Optional(
    Type.String({ maxLength: 2048, description: 'authorization_code: the redirect_uri of the login' }),
  ),
})

const tokenResponse = Type.Object(
  {
    ...TokenResponseSchema.properties,
    user_id: Type.Optional(Type.String({ format: 'uuid', description: 'authorization_code: the user' })),
    new_user: Type.Optional(Type.Boolean({ description: 'authorization_code: true on the first login' })),
  },
  { additionalProperties: false },
)

const logoutBody = Type.Object({
  refresh_token: Type.Optional(Type.String({ maxLength: 512 })),
})

const sessionResponse = Type.Object({
  user_id: Type.String({ format: 'uuid' }),
  session_id: Type.String({ format: 'uuid' }),
  provider: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  /** The session's absolute end: no refresh works after it. */
  expires_at: Type.String({ format: 'date-time' }),
  access_token_expires_at: Type.String({ format: 'date-time' }),
})

const invalidRequest = (detail: string) =>
  new ProblemError(feedProblems.invalidTokenRequest, {
    detail,
    code: 'FEED_INVALID_TOKEN_REQUEST',
    extensions: { error: 'invalid_request' },
  })

/**
 * A form body as an object of strings. RFC 6749 §3.2: a parameter given twice is an error, one without a value is
 * as if omitted, unknown ones are ignored (the schema lets them through and nothing reads them).
 */
function parseForm(text: string): Record<string, string> {
  const params: Record<string, string> = Object.create(null)
  for (const [name, value] of new URLSearchParams(text)) {
    if (Object.hasOwn(params, name)) throw invalidRequest(`The parameter ${name} is given more than once.`)
    if (value !== '') params[name] = value
  }
  return { ...params }
}

/** JSON's empty strings are omitted parameters too, as in a form. */
const given = (value: string | undefined) => (value === undefined || value === '' ? undefined : value)

/** OAuth token responses are never cached (RFC 6749 §5.1). */
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }

export async function registerTokenRoutes(app: ServiceApp, options: TokenRoutesOptions): Promise<void> {
  const { sessions, authenticate } = options
  const rateLimit = authRateLimit(options.config)

  await app.register(async function tokenRoutes(scope: ServiceApp) {
    scope.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_request, body, done) => {
      try {
        done(null, parseForm(body as string))
      } catch (error) {
        done(error as Error, undefined)
      }
    })

    scope.post(
      '/v1/auth/token',
      {
        bodyLimit: BODY_LIMIT,
        config: rateLimit,
        schema: {
          summary: 'Exchange a refresh token (RFC 6749 §6) or a login’s authorization code (§4.1.3) for tokens',
          description:
            'The refresh token works once. Presenting an already exchanged token again revokes its session ' +
            '(RFC 9700 §4.14.2). grant_type=authorization_code takes code, code_verifier (PKCE, RFC 7636) and the ' +
            'redirect_uri of the login, and answers user_id and new_user too. Refusals: 401 invalid-grant, 400 ' +
            'unsupported-grant-type or invalid-token-request.',
          tags: ['auth'],
          consumes: [FORM, 'application/json'],
          body: tokenBody,
          response: { 200: tokenResponse },
        },
      },
      async (request, reply) => {
        const grantType = given(request.body.grant_type)
        if (grantType === undefined) throw invalidRequest('grant_type is missing.')
        if (grantType === 'authorization_code') {
          const { code, code_verifier, redirect_uri } = request.body
          for (const [name, value] of Object.entries({ code, code_verifier, redirect_uri })) {
            if (given(value) === undefined) throw invalidRequest(`${name} is missing.`)
          }
          const response = await options.exchangeCode({
            code: code as string,
            codeVerifier: code_verifier as string,
            redirectUri: redirect_uri as string,
          })
          reply.headers(NO_STORE)
          return response
        }
        if (grantType !== 'refresh_token') {
          throw new ProblemError(feedProblems.unsupportedGrantType, {
            detail:
              'grant_type must be refresh_token or authorization_code; logging in starts at /v1/auth/{provider}/login.',
            code: 'FEED_UNSUPPORTED_GRANT_TYPE',
            extensions: { error: 'unsupported_grant_type' },
          })
        }
        const refreshToken = given(request.body.refresh_token)
        if (refreshToken === undefined) throw invalidRequest('refresh_token is missing.')
        const response = await sessions.refresh(refreshToken)
        reply.headers(NO_STORE)
        return response
      },
    )

    scope.post(
      '/v1/auth/logout',
      {
        bodyLimit: BODY_LIMIT,
        config: rateLimit,
        // A logout with the bearer token alone has no body; the schema then checks an empty one.
        preValidation: (request, _reply, done) => {
          request.body ??= {}
          done()
        },
        schema: {
          summary: 'Log out: revoke the session of a refresh token or of the bearer access token',
          description:
            'Every refresh token and access token of the session stops working at once (revoked-sessions.ts). ' +
            'An unknown refresh token is no error (RFC 7009 §2.2).',
          tags: ['auth'],
          // Either the bearer token or a refresh token in the body.
          security: [...BEARER_SECURITY, {}],
          consumes: [FORM, 'application/json'],
          body: logoutBody,
          response: { 204: Type.Null({ description: 'Logged out' }) },
        },
      },
      async (request, reply) => {
        const refreshToken = given(request.body.refresh_token)
        const bearer = request.headers.authorization !== undefined
        if (!bearer && refreshToken === undefined) {
          throw invalidRequest('Send the refresh token in the body, or the access token as Authorization: Bearer.')
        }
        if (bearer) {
          await authenticate(request)
          await sessions.revoke(authOf(request).sessionId)
        }
        if (refreshToken !== undefined) await sessions.revokeByRefreshToken(refreshToken)
        reply.headers(NO_STORE)
        return reply.code(204).send(null)
      },
    )
  })

  app.get(
    '/v1/auth/session',
    {
      preHandler: authenticate,
      schema: {
        summary: "The access token's session: user, session id and expiry",
        description: 'Answers 401 invalid-token once the session is revoked or past its absolute end.',
        tags: ['auth'],
        security: BEARER_SECURITY,
        response: { 200: sessionResponse },
      },
    },
    async (request: FastifyRequest, reply) => {
      const auth = authOf(request)
      const session = await sessions.findLive(auth.sessionId)
      if (!session) throw invalidToken('The session has ended (logged out, revoked or expired); log in again.')
      reply.header('cache-control', 'no-store')
      return {
        user_id: session.user_id,
        session_id: session.id,
        provider: session.provider,
        created_at: session.created_at.toISOString(),
        expires_at: session.expires_at.toISOString(),
        access_token_expires_at: auth.expiresAt.toISOString(),
      }
    },
  )
}
