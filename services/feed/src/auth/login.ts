import { randomUUID } from 'node:crypto'
import { activityRecorded } from '@platform/contracts'
import type { Queryable, Sql } from '@platform/db'
import type { EventLog } from '@platform/eventlog'
import { ProblemError, sameSecret } from '@platform/http'
import { enqueueMessage } from '@platform/outbox'
import * as client from 'openid-client'
import { feedProblems } from '../problems.js'
import type { IdentitiesRepository } from '../users/identities-repository.js'
import type { UserRow, UsersRepository } from '../users/users-repository.js'
import type { ClientRedirects } from './client-redirects.js'
import { type ExternalProfile, type IdentityProvider, providerOAuthError } from './identity-providers.js'
import { type LoginState, type LoginStates, sha256 } from './login-state.js'
import type { OneTimeCodes } from './one-time-codes.js'
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
 * - a login started by the link call (linkUserId in its state) commits nothing at its callback: the identity it
 *   found waits under a one-time link code (PendingLink) that the client hands to confirmLink with the access
 *   token of the user who started the link. The link URL is no capability on its own: whoever finishes it in their
 *   browser (a leaked URL: Referer, history) gets only a code their own token cannot confirm (account takeover),
 *   and a victim lured into finishing an attacker's link URL cannot confirm it for the attacker (login CSRF).
 *   An identity that already belongs to someone else is a 409. Nothing ever joins accounts because emails match:
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
  /** Pending links between the link callback and POST /v1/auth/link/confirm. */
  linkCodes: OneTimeCodes<PendingLink>
  /** The feed's own authorization codes, between a callback with redirect_uri and POST /v1/auth/token. */
  authorizationCodes: OneTimeCodes<PendingLogin>
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
  /** RFC 7636 from the client: required with redirect_uri (the code it gets back is bound to it); S256 only. */
  codeChallenge?: string | undefined
  codeChallengeMethod?: string | undefined
}

/** RFC 7636 §4.2: an S256 challenge is the base64url SHA-256 of the verifier, 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/

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
    // RFC 9700 §2.1.1: the code that goes to the client's redirect_uri is worth nothing without the verifier.
    // (A link's redirect gets a link code, which only the linking user's access token can confirm.)
    const login = input.linkUserId === undefined
    if (login && (input.codeChallengeMethod !== 'S256' || !S256_CHALLENGE.test(input.codeChallenge ?? ''))) {
      throw new ProblemError(feedProblems.invalidCodeChallenge, {
        detail:
          'A login with redirect_uri needs code_challenge (the S256 of a code_verifier) and code_challenge_method=S256.',
      })
    }
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
    ...(redirectUri === undefined || input.codeChallenge === undefined
      ? {}
      : { clientCodeChallenge: input.codeChallenge }),
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
  | { kind: 'login'; user: UserRow; created: boolean; tokens: TokenResponse }
  | { kind: 'code'; code: string; redirectUri: string }
  | { kind: 'link'; linkCode: string; provider: string; expiresIn: number; redirectUri?: string }

/** What a login callback with redirect_uri found, kept under the feed's authorization code until its exchange. */
export interface PendingLogin {
  provider: string
  profile: ExternalProfile
  redirectUri: string
  /** The client's S256 code_challenge from the login call. */
  codeChallenge: string
  userAgent?: string
  ip?: string
}

/** RFC 6749 §4.1.2 recommends at most 10 minutes; the client exchanges it right after the redirect. */
export const AUTHORIZATION_CODE_TTL_S = 60

/** What a link callback found, kept under its link code until the linking user confirms it. */
export interface PendingLink {
  provider: string
  profile: ExternalProfile
  linkUserId: string
}

/** A link code stays valid this long: the client confirms it right after the redirect. */
export const LINK_CODE_TTL_S = 120

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
    (input.browserKey === undefined || !sameSecret(sha256(input.browserKey), saved.browserHash))
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
    // Refused early when it cannot succeed; confirmLink checks again in its transaction.
    const owner = await deps.identities.find({ provider: provider.name, subject: profile.subject })
    if (owner && owner.user_id !== saved.linkUserId) throw linkedElsewhere(provider.name)
    const pending: PendingLink = { provider: provider.name, profile, linkUserId: saved.linkUserId }
    const linkCode = await deps.linkCodes.issue(pending)
    return { kind: 'link', linkCode, provider: provider.name, expiresIn: deps.linkCodes.ttlSeconds, ...redirect }
  }
  if (saved.redirectUri !== undefined && saved.clientCodeChallenge !== undefined) {
    // No tokens in a redirect (RFC 9700 §2.1.2): a code of the feed's own, exchanged with the client's verifier.
    // Nothing is committed before that exchange; the login happens there, in one transaction.
    const pending: PendingLogin = {
      provider: provider.name,
      profile,
      redirectUri: saved.redirectUri,
      codeChallenge: saved.clientCodeChallenge,
      ...(input.userAgent === undefined ? {} : { userAgent: input.userAgent }),
      ...(input.ip === undefined ? {} : { ip: input.ip }),
    }
    return { kind: 'code', code: await deps.authorizationCodes.issue(pending), redirectUri: saved.redirectUri }
  }
  const { user, created, tokens } = await logIn(deps, provider.name, profile, input)
  return { kind: 'login', user, created, tokens }
}

/** Find or create, the login's events and the session: one transaction. */
export async function logIn(
  deps: Pick<LoginDeps, 'sql' | 'users' | 'identities' | 'sessions' | 'eventLog'>,
  provider: string,
  profile: ExternalProfile,
  input: { userAgent?: string | undefined; ip?: string | undefined },
) {
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
  deps: Pick<LoginDeps, 'eventLog'>,
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

const linkedElsewhere = (provider: string) =>
  new ProblemError(feedProblems.identityLinkedElsewhere, {
    detail: `This "${provider}" account already belongs to another user; log in with it instead, or link another.`,
    extensions: { provider },
  })

export interface ConfirmLink {
  linkCode: string
  /** The bearer token's `sub`: it must be the user who started the link. */
  userId: string
}

/**
 * POST /v1/auth/link/confirm: commits a pending link for the user who started it. The code is spent by its first
 * use, whoever presents it, so a code that reached someone else (the attacker who finished a leaked link URL) dies
 * with their refused attempt.
 */
export async function confirmLink(
  deps: Pick<LoginDeps, 'sql' | 'users' | 'identities' | 'eventLog' | 'linkCodes'>,
  input: ConfirmLink,
): Promise<{ userId: string; provider: string; linked: boolean }> {
  const pending = await deps.linkCodes.take(input.linkCode)
  if (!pending) {
    throw new ProblemError(feedProblems.invalidLinkCode, {
      detail: 'The link code is unknown, expired or already used; start the link again.',
    })
  }
  if (pending.linkUserId !== input.userId) {
    throw new ProblemError(feedProblems.linkOfAnotherUser, {
      detail: 'This link was started by another user; only that user can confirm it.',
    })
  }
  const linked = await linkIdentity(deps, pending.provider, pending.profile, pending.linkUserId)
  return { userId: pending.linkUserId, provider: pending.provider, linked }
}

/** Adds the identity to the user; true when it is new, false when it was that user's already. */
async function linkIdentity(
  deps: Pick<LoginDeps, 'sql' | 'users' | 'identities' | 'eventLog'>,
  provider: string,
  profile: ExternalProfile,
  userId: string,
) {
  const key = { provider, subject: profile.subject }
  return deps.sql.begin(async (tx) => {
    await deps.identities.lock(key, tx)
    const existing = await deps.identities.find(key, tx)
    if (existing && existing.user_id !== userId) throw linkedElsewhere(provider)
    if (existing) return false
    if (!(await deps.users.findById(userId, tx))) throw invalidState('The user who started the link no longer exists.')
    await deps.identities.insert({ ...key, userId, email: profile.email, emailVerified: profile.emailVerified }, tx)
    await deps.eventLog.record(tx, { eventType: 'identity.linked', context: { user_id: userId, provider } })
    return true
  })
}
