import { defineProblemType, type ProblemType } from '@platform/http'

/**
 * The feed's own problem types, beside @platform/http's catalog (packages/http/lib/problem-types.ts); every one is
 * listed in docs/api-errors.md. Features add theirs here: one catalog per service, one slug per meaning.
 */
export const feedProblems = {
  /** No bearer token on a route that needs one (RFC 6750 §3.1: the challenge carries no error code). */
  authenticationRequired: defineProblemType('authentication-required', 401, 'Authentication required'),
  /**
   * A bearer token that is malformed, expired, not yet valid, signed by a key or algorithm this service does not
   * accept, or meant for another issuer or audience. The answer does not say which (RFC 6750 §3.1 invalid_token).
   */
  invalidToken: defineProblemType('invalid-token', 401, 'Invalid access token'),
  /**
   * POST /v1/auth/token: the refresh token is unknown, expired (idle or absolute lifetime), revoked, or was already
   * exchanged. RFC 6749 §5.2's `invalid_grant`, which the body also carries as `error`; 401 rather than §5.2's 400
   * (docs/feed.md#tokens says why). The client logs in again.
   */
  invalidGrant: defineProblemType('invalid-grant', 401, 'Invalid refresh token'),
  /** POST /v1/auth/token with a grant_type other than refresh_token (RFC 6749 §5.2 `unsupported_grant_type`). */
  unsupportedGrantType: defineProblemType('unsupported-grant-type', 400, 'Unsupported grant type'),
  /**
   * POST /v1/auth/token or /v1/auth/logout without what the grant needs, or with a parameter given twice (RFC 6749
   * §5.2 `invalid_request`, §3.2).
   */
  invalidTokenRequest: defineProblemType('invalid-token-request', 400, 'Invalid token request'),

  // -- commands and reads (docs/feed.md#commands)
  /** A command without an Idempotency-Key header (the draft's §2.7: 400). */
  idempotencyKeyMissing: defineProblemType('idempotency-key-missing', 400, 'Idempotency-Key header missing'),
  /** An Idempotency-Key that is not one string of 1 to 255 printable ASCII characters (idempotency-key.ts). */
  idempotencyKeyInvalid: defineProblemType('idempotency-key-invalid', 400, 'Invalid Idempotency-Key header'),
  /** The key was used by this user for another request (method, route or content) within 24 h (draft §2.7: 422). */
  idempotencyKeyReused: defineProblemType('idempotency-key-reused', 422, 'Idempotency-Key reused'),
  /** The first request with this key is still running (draft §2.7: 409); retry once it has finished. */
  idempotencyKeyInFlight: defineProblemType('idempotency-key-in-flight', 409, 'Request with this key in progress'),
  /** A post's text that is empty, longer than 500 characters, or holds a control character other than LF. */
  invalidPostText: defineProblemType('invalid-post-text', 422, 'Invalid post text'),
  /** No post with this id (or it was withdrawn). */
  unknownPost: defineProblemType('unknown-post', 404, 'Unknown post'),
  /** No user with this id. */
  unknownUser: defineProblemType('unknown-user', 404, 'Unknown user'),
  /** Follow or unfollow of oneself. */
  cannotFollowSelf: defineProblemType('cannot-follow-self', 422, 'Cannot follow yourself'),

  // -- login through an identity provider (auth/login.ts, docs/feed.md#login)
  /** /v1/auth/<name>/... names no configured provider. */
  unknownIdentityProvider: defineProblemType('unknown-identity-provider', 404, 'Unknown identity provider'),
  /** The login's redirect_uri is not on FEED_AUTH_REDIRECT_ALLOWLIST (exact match): the feed never redirects elsewhere. */
  redirectUriNotAllowed: defineProblemType('redirect-uri-not-allowed', 400, 'redirect_uri not allowed'),
  /**
   * The callback's state is missing, unknown, expired, already used (a replayed callback), of another provider, or
   * of a login started in another browser: start the login again.
   */
  invalidLoginState: defineProblemType('invalid-login-state', 400, 'Invalid or expired login state'),
  /** The person declined at the provider (error=access_denied on the callback). */
  loginDenied: defineProblemType('login-denied', 403, 'Login denied at the identity provider'),
  /** The provider refused the authorization code (invalid_grant: used twice, expired, or not issued for this login). */
  authorizationCodeRejected: defineProblemType('authorization-code-rejected', 400, 'Authorization code rejected'),
  /** The ID token failed a check: signature, issuer, audience, nonce, expiry. */
  invalidIdToken: defineProblemType('invalid-id-token', 400, 'Invalid ID token'),
  /** The provider answered the login with another OAuth error (`provider_error` holds its code). */
  identityProviderError: defineProblemType('identity-provider-error', 400, 'Identity provider error'),
  /** The provider could not be reached, timed out, or failed (5xx): trying again later can succeed. */
  identityProviderUnavailable: defineProblemType('identity-provider-unavailable', 502, 'Identity provider unavailable'),
  /** The identity being linked already belongs to another user; identities are never moved between users. */
  identityLinkedElsewhere: defineProblemType(
    'identity-linked-to-another-user',
    409,
    'Identity belongs to another user',
  ),

  // -- feeds (docs/feed.md#personal-feed, #hot-feed)
  /**
   * GET /v1/feed/hot with the cursor of a ranking snapshot that has expired (unread for FEED_HOT_SNAPSHOT_TTL_S):
   * the client loads the hot feed again from its first page.
   */
  hotFeedSnapshotExpired: defineProblemType('hot-feed-snapshot-expired', 410, 'Hot feed snapshot expired'),
} satisfies Record<string, ProblemType>
