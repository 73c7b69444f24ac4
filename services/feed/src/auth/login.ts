import { randomUUID, timingSafeEqual } from 'node:crypto'
import { activityRecorded } from '@platform/contracts'
import type { Queryable, Sql } from '@platform/db'
import type { EventLog } from '@platform/eventlog'
import { ProblemError } from '@platform/http'
import { enqueueMessage } from '@platform/outbox'
import * as client from 'openid-client'
import { feedProblems } from '../problems.js'
import type { IdentitiesRepository } from '../users/identities-repository.js'
import type { UserRow, UsersRepository } from '../users/users-repository.js'
import type { ClientRedirects } from './client-redirects.js'
import { type ExternalProfile, type IdentityProvider, providerOAuthError } from './identity-providers.js'
import { type LoginState, type LoginStates, sha256 } from './login-state.js'
import type { Sessions, TokenResponse } from './sessions.js'

/**
 * Login through an identity provider (docs/feed.md#login), as three domain functions the routes call:
 *
 * - startLogin: checks the client's redirect_uri against the allow-list, makes state, nonce and PKCE verifier,
 *   keeps them in Redis (login-state.ts) and returns the provider's authorization URL.
 * - completeLogin: consumes the state (once), lets the provider turn the code into a profile, then in ONE
 *   transaction finds or creates the user by (provider, subject), writes the `activityRecorded` "login" message
 *   (outbox) and the event-log record, and starts the session (sessions.start): no tokens without the commit, no
 *   login event without the tokens.
 * - a login started by the link call (linkUserId in its state) adds the identity to that user instead; an
 *   identity that already belongs to someone else is a 409. Nothing ever joins accounts because emails match:
 *   providers let people change their address, and some do not verify it.
 */
export interface LoginDeps {
  sql: Sql
  users: UsersRepository
  identities: IdentitiesRepository
  sessions: Pick<Sessions, 'start'>
  eventLog: EventLog
  states: LoginStates
  providers: ReadonlyMap<string, IdentityProvider>
  clientRedirects: ClientRedirects
  /** FEED_PUBLIC_URL: the base of the callback URLs registered at the providers. */
  publicUrl: string
}

export const callbackPath = (provider: string) => `/v1/auth/${encodeURIComponent(provider)}/callback`
export const callbackUrlOf = (publicUrl: string, provider: string) => `${publicUrl}${callbackPath(provider)}`

export function providerOf(deps: Pick<LoginDeps, 'providers'>, name: string): IdentityProvider {
  const provider = deps.providers.get(name)
  if (!provider) {
    throw new ProblemError(feedProblems.unknownIdentityProvider, {
      detail: `No identity provider is named "${name.slice(0, 40)}".`,
      extensions: { providers: [...deps.providers.keys()] },
    })
  }
  return provider
}

const invalidState = (detail: string) => new ProblemError(feedProblems.invalidLoginState, { detail })

export interface StartLogin {
  provider: string
  redirectUri?: string | undefined
  /** The link call's user: the callback links instead of logging in. */
  linkUserId?: string
  /** The login cookie of the browser (login-routes.ts); the callback must come back with the same one. */
  browserKey?: string
}

export async function startLogin(deps: LoginDeps, input: StartLogin): Promise<URL> {
  const provider = providerOf(deps, input.provider)
  let redirectUri: string | undefined
  if (input.redirectUri !== undefined) {
    const allowed = deps.clientRedirects.match(input.redirectUri)
    if (!allowed) {
      throw new ProblemError(feedProblems.redirectUriNotAllowed, {
        detail: 'redirect_uri is not one of the client redirect URIs this service allows (exact match).',
      })
    }
    redirectUri = allowed.href
  }
  const state = client.randomState()
  const codeVerifier = client.randomPKCECodeVerifier()
  const nonce = client.randomNonce()
  const url = await provider.authorizationUrl({
    state,
    nonce,
    codeVerifier,
    callbackUrl: callbackUrlOf(deps.publicUrl, provider.name),
  })
  const saved: LoginState = {
    provider: provider.name,
    codeVerifier,
    ...(provider.usesNonce ? { nonce } : {}),
    ...(redirectUri === undefined ? {} : { redirectUri }),
    ...(input.linkUserId === undefined ? {} : { linkUserId: input.linkUserId }),
    ...(input.browserKey === undefined ? {} : { browserHash: sha256(input.browserKey) }),
    startedAt: Date.now(),
  }
  await deps.states.save(state, saved)
  return url
}

export interface CompleteLogin {
  provider: string
  /** The callback's query as the provider sent it. */
  query: Record<string, string>
  browserKey?: string | undefined
  userAgent?: string | undefined
  ip?: string | undefined
}

export type LoginResult =
  | { kind: 'login'; user: UserRow; created: boolean; tokens: TokenResponse; redirectUri?: string }
  | { kind: 'link'; userId: string; provider: string; linked: boolean; redirectUri?: string }

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export async function completeLogin(deps: LoginDeps, input: CompleteLogin): Promise<LoginResult> {
  const provider = providerOf(deps, input.provider)
  const { state, error } = input.query
  // Taken before anything else, so a state is spent by its first callback, successful or not.
  const saved = state ? await deps.states.take(state) : undefined
  if (error !== undefined) throw providerOAuthError(provider.name, error)
  if (!state || !saved) {
    throw invalidState('The login state is unknown, expired or already used; start the login again.')
  }
  if (saved.provider !== provider.name) throw invalidState('The login state belongs to another provider.')
  if (
    saved.browserHash !== undefined &&
    (input.browserKey === undefined || !sameHash(sha256(input.browserKey), saved.browserHash))
  ) {
    // RFC 9700 §4.7.1: the state must be bound to the user agent, or a callback URL of the attacker's own login,
    // opened in a victim's browser, would log the victim into the attacker's account.
    throw invalidState('The login was started in another browser (its login cookie is missing); start it again.')
  }
  const callbackUrl = new URL(callbackUrlOf(deps.publicUrl, provider.name))
  for (const [key, value] of Object.entries(input.query)) callbackUrl.searchParams.append(key, value)
  const profile = await provider.complete(callbackUrl, { ...saved, state })
  const redirect = saved.redirectUri === undefined ? {} : { redirectUri: saved.redirectUri }
  if (saved.linkUserId !== undefined) {
    const linked = await linkIdentity(deps, provider.name, profile, saved.linkUserId)
    return { kind: 'link', userId: saved.linkUserId, provider: provider.name, linked, ...redirect }
  }
  const { user, created, tokens } = await logIn(deps, provider.name, profile, input)
  return { kind: 'login', user, created, tokens, ...redirect }
}

/** Find or create, the login's events and the session: one transaction. */
async function logIn(deps: LoginDeps, provider: string, profile: ExternalProfile, input: CompleteLogin) {
  const key = { provider, subject: profile.subject }
  const contact = { ...key, email: profile.email, emailVerified: profile.emailVerified }
  return deps.sql.begin(async (tx) => {
    await deps.identities.lock(key, tx)
    const existing = await deps.identities.find(key, tx)
    let user: UserRow | undefined
    if (existing) {
      await deps.identities.touch(contact, tx)
      user = await deps.users.findById(existing.user_id, tx)
      if (!user) throw new Error(`identity ${provider} points at a missing user`)
    } else {
      user = await deps.users.create({ handle: profile.handle, name: profile.name, avatarUrl: profile.avatarUrl }, tx)
      await deps.identities.insert({ ...contact, userId: user.id }, tx)
    }
    const created = !existing
    await recordLogin(deps, tx, { userId: user.id, provider, created })
    const tokens = await deps.sessions.start(
      {
        userId: user.id,
        provider,
        ...(input.userAgent === undefined ? {} : { userAgent: input.userAgent }),
        ...(input.ip === undefined ? {} : { ip: input.ip }),
      },
      tx,
    )
    return { user, created, tokens }
  })
}

/** The activity message for analytics and the event-log record; no profile data (names, emails) in either. */
async function recordLogin(
  deps: LoginDeps,
  tx: Queryable,
  login: { userId: string; provider: string; created: boolean },
) {
  const performedAt = new Date()
  await enqueueMessage(tx, activityRecorded, {
    eventId: randomUUID(),
    userId: login.userId,
    kind: 'login',
    performedAt: performedAt.toISOString(),
    properties: { provider: login.provider, first_login: login.created },
  })
  await deps.eventLog.recordMany(tx, [
    ...(login.created
      ? [
          {
            eventType: 'user.created',
            context: { user_id: login.userId, provider: login.provider },
            occurredAt: performedAt,
          },
        ]
      : []),
    {
      eventType: 'user.logged_in',
      context: { user_id: login.userId, provider: login.provider, first_login: login.created },
      occurredAt: performedAt,
    },
  ])
}

/** Adds the identity to the user; true when it is new, false when it was that user's already. */
async function linkIdentity(deps: LoginDeps, provider: string, profile: ExternalProfile, userId: string) {
  const key = { provider, subject: profile.subject }
  return deps.sql.begin(async (tx) => {
    await deps.identities.lock(key, tx)
    const existing = await deps.identities.find(key, tx)
    if (existing && existing.user_id !== userId) {
      throw new ProblemError(feedProblems.identityLinkedElsewhere, {
        detail: `This "${provider}" account already belongs to another user; log in with it instead, or link another.`,
        extensions: { provider },
      })
    }
    if (existing) return false
    if (!(await deps.users.findById(userId, tx))) throw invalidState('The user who started the link no longer exists.')
    await deps.identities.insert({ ...key, userId, email: profile.email, emailVerified: profile.emailVerified }, tx)
    await deps.eventLog.record(tx, { eventType: 'identity.linked', context: { user_id: userId, provider } })
    return true
  })
}
