import { randomBytes } from 'node:crypto'
import { Type } from '@platform/config'
import { PROBLEM_TYPE_BASE, ProblemError, type ServiceApp } from '@platform/http'
import type { Counter } from '@platform/metrics'
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import { authOf, BEARER_SECURITY } from './authenticate.js'
import { completeLogin, type LoginDeps, type LoginResult, startLogin } from './login.js'
import { TokenResponseSchema } from './sessions.js'

/**
 * GET /v1/auth/:provider/login, GET /v1/auth/:provider/callback, POST /v1/auth/:provider/link (docs/feed.md#login).
 * Thin: each handler reads its checked input, calls one domain function (login.ts) and answers.
 *
 * The login cookie binds a login to the browser that started it (RFC 9700 §4.7.1): a random value, HttpOnly,
 * SameSite=Lax (sent on the provider's top-level redirect back), scoped to /v1/auth/, whose hash the login state
 * keeps; the callback refuses a state that comes back without it. One value per browser, reused by its parallel
 * logins. The link call has no browser to bind (an app asks for the URL with its access token): its state alone,
 * made for that user, is the capability.
 */
export interface LoginRoutesOptions {
  deps: LoginDeps
  authenticate: preHandlerAsyncHookHandler
  /** authRateLimit(config): the login and callback routes' own budget per client address. */
  rateLimit: { rateLimit: { max: number; timeWindow: number } }
  loginTtlSeconds: number
  /** feed_logins_total{provider, outcome} (login-feature.ts). */
  logins: Pick<Counter<'provider' | 'outcome'>, 'inc'>
}

export const LOGIN_COOKIE = 'feed_login'
/** The refusals feed_logins_total counts by name (underscored); anything else counts as `error`. */
const OUTCOMES = new Set([
  'invalid-login-state',
  'login-denied',
  'authorization-code-rejected',
  'invalid-id-token',
  'identity-provider-error',
  'identity-provider-unavailable',
  'identity-linked-to-another-user',
  'unknown-identity-provider',
])
const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/
const TAGS = ['auth']

const ProviderParams = Type.Object({
  provider: Type.String({ maxLength: 64, description: 'A configured provider name (FEED_AUTH_PROVIDERS_FILE)' }),
})

const RedirectUri = Type.String({
  minLength: 1,
  maxLength: 2048,
  description: 'Where the browser goes with the tokens in the URL fragment; must be on FEED_AUTH_REDIRECT_ALLOWLIST',
})

/** Bounded strings: a provider's parameters are short, and a repeated parameter (an array) is refused. */
const Param = Type.String({ maxLength: 4096 })
const CallbackQuery = Type.Object(
  {
    code: Type.Optional(Param),
    state: Type.Optional(Type.String({ maxLength: 512 })),
    error: Type.Optional(Type.String({ maxLength: 256 })),
    error_description: Type.Optional(Param),
    error_uri: Type.Optional(Param),
    iss: Type.Optional(Param),
  },
  { additionalProperties: Param },
)

const LoginTokens = Type.Object(
  {
    ...TokenResponseSchema.properties,
    user_id: Type.String({ format: 'uuid' }),
    new_user: Type.Boolean({ description: 'true on the first login of this identity (the user was just created)' }),
  },
  { additionalProperties: false },
)

const LinkResult = Type.Object(
  {
    user_id: Type.String({ format: 'uuid' }),
    provider: Type.String(),
    linked: Type.Boolean({ description: 'false when the identity was this user’s already' }),
  },
  { additionalProperties: false },
)

/** A 302 (no body) for OpenAPI: where it goes, and the login cookie where one is set. */
function redirect(description: string, location: string, cookie = false) {
  return {
    ...Type.Null(),
    description,
    headers: {
      location: { type: 'string', description: location },
      ...(cookie
        ? { 'set-cookie': { type: 'string', description: `${LOGIN_COOKIE}: binds the login to this browser` } }
        : {}),
    },
  }
}

function cookieOf(request: FastifyRequest): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=')
    if (name === LOGIN_COOKIE) {
      const text = value.join('=')
      return COOKIE_VALUE.test(text) ? text : undefined
    }
  }
  return undefined
}

/** The fragment never reaches a server or a Referer header; `no-store` keeps the answer out of caches (RFC 6749 §5.1). */
function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').header('referrer-policy', 'no-referrer')
}

function withFragment(target: string, values: Record<string, string | number | boolean>): string {
  const url = new URL(target)
  url.hash = new URLSearchParams(Object.entries(values).map(([k, v]): [string, string] => [k, String(v)])).toString()
  return url.href
}

function answer(reply: FastifyReply, result: LoginResult) {
  noStore(reply)
  if (result.kind === 'link') {
    const body = { user_id: result.userId, provider: result.provider, linked: result.linked }
    if (result.redirectUri) return reply.redirect(withFragment(result.redirectUri, body), 302)
    return reply.code(200).send(body)
  }
  const body = { ...result.tokens, user_id: result.user.id, new_user: result.created }
  if (result.redirectUri) return reply.redirect(withFragment(result.redirectUri, body), 302)
  return reply.code(200).send(body)
}

export async function registerLoginRoutes(app: ServiceApp, options: LoginRoutesOptions): Promise<void> {
  const { deps } = options
  const secureCookie = deps.publicUrl.startsWith('https:')

  app.get(
    '/v1/auth/:provider/login',
    {
      config: options.rateLimit,
      schema: {
        summary: 'Log in through an identity provider (redirects to it)',
        description:
          'Redirects the browser to the provider. After the login there, the callback answers the tokens, or ' +
          'redirects to redirect_uri with them in the URL fragment.',
        tags: TAGS,
        params: ProviderParams,
        querystring: Type.Object({ redirect_uri: Type.Optional(RedirectUri) }),
        response: {
          302: redirect(
            'To the identity provider',
            'The provider’s authorization URL (state, PKCE challenge, nonce)',
            true,
          ),
        },
      },
    },
    async (request, reply) => {
      const browserKey = cookieOf(request) ?? randomBytes(32).toString('base64url')
      const url = await startLogin(deps, {
        provider: request.params.provider,
        redirectUri: request.query.redirect_uri,
        browserKey,
      })
      const cookie = [
        `${LOGIN_COOKIE}=${browserKey}`,
        'Path=/v1/auth/',
        `Max-Age=${options.loginTtlSeconds}`,
        'HttpOnly',
        'SameSite=Lax',
        ...(secureCookie ? ['Secure'] : []),
      ]
      return noStore(reply).header('set-cookie', cookie.join('; ')).redirect(url.href, 302)
    },
  )

  app.get(
    '/v1/auth/:provider/callback',
    {
      config: options.rateLimit,
      schema: {
        summary: 'The identity provider’s redirect back: finishes the login',
        description:
          'Registered at the provider as its redirect URI. Exchanges the code, finds or creates the user by ' +
          '(provider, subject) and starts a session; or, for a link, adds the identity to the linking user.',
        tags: TAGS,
        params: ProviderParams,
        querystring: CallbackQuery,
        response: {
          200: Type.Union([LoginTokens, LinkResult], {
            description: 'Without redirect_uri: the token response (a login) or the linked identity (a link)',
          }),
          302: redirect(
            'With redirect_uri: back to the client',
            'The client’s redirect_uri, the token response (or the link result) in its fragment',
          ),
        },
      },
    },
    async (request, reply) => {
      // Bounded labels: a configured name or "unknown"; an outcome of the catalog's slugs.
      const provider = deps.providers.has(request.params.provider) ? request.params.provider : 'unknown'
      try {
        const result = await completeLogin(deps, {
          provider: request.params.provider,
          query: request.query as Record<string, string>,
          browserKey: cookieOf(request),
          userAgent: request.headers['user-agent'],
          ip: request.ip,
        })
        const outcome = result.kind === 'link' ? 'linked' : result.created ? 'first_login' : 'login'
        options.logins.inc({ provider, outcome })
        return answer(reply, result)
      } catch (error) {
        const slug = error instanceof ProblemError ? error.type.replace(PROBLEM_TYPE_BASE, '') : 'error'
        options.logins.inc({ provider, outcome: OUTCOMES.has(slug) ? slug.replaceAll('-', '_') : 'error' })
        throw error
      }
    },
  )

  app.post(
    '/v1/auth/:provider/link',
    {
      // (authenticate is typed for Fastify's default instance; it reads only the request)
      preHandler: (request, reply) => options.authenticate.call(app as never, request, reply),
      config: options.rateLimit,
      schema: {
        summary: 'Link another provider’s account to the current user',
        description:
          'Returns the provider’s login URL; its callback adds that account to the authenticated user. An account ' +
          'that already belongs to another user is refused (409). Accounts are never linked by matching emails.',
        tags: TAGS,
        security: BEARER_SECURITY,
        params: ProviderParams,
        body: Type.Optional(Type.Object({ redirect_uri: Type.Optional(RedirectUri) }, { additionalProperties: false })),
        response: {
          200: Type.Object(
            {
              authorization_url: Type.String({ description: 'Open it in the browser' }),
              expires_in: Type.Integer({ description: 'Seconds the URL is valid' }),
            },
            { additionalProperties: false },
          ),
        },
      },
    },
    async (request, reply) => {
      const url = await startLogin(deps, {
        provider: request.params.provider,
        redirectUri: request.body?.redirect_uri,
        linkUserId: authOf(request).userId,
      })
      return noStore(reply).send({ authorization_url: url.href, expires_in: options.loginTtlSeconds })
    },
  )
}
