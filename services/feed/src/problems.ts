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
} satisfies Record<string, ProblemType>
