import { ProblemError, type ProblemType, sameSecret } from '@platform/http'

export interface BearerTokenOptions {
  /** The configured token; undefined: see `whenUnset`. */
  token: string | undefined
  /** `refuse`: no request passes (a route that must not be open); `open`: every request does. */
  whenUnset: 'refuse' | 'open'
  problem: ProblemType
  /** The problem's detail, naming the variable that holds the token. */
  detail: string
}

/**
 * An onRequest hook that requires `Authorization: Bearer <token>` (RFC 6750), compared in constant time, before any
 * body is read; a 401 problem with `WWW-Authenticate` otherwise.
 */
export function requireBearerToken(options: BearerTokenOptions) {
  const expected = options.token
  const open = expected === undefined && options.whenUnset === 'open'
  return async (request: { headers: { authorization?: string } }) => {
    if (open) return
    const match = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')
    if (expected === undefined || !match || !sameSecret(match[1] as string, expected)) {
      throw new ProblemError(options.problem, {
        detail: options.detail,
        headers: { 'www-authenticate': 'Bearer realm="analytics"' },
      })
    }
  }
}

/**
 * A bearer token's OpenAPI description: the security scheme named `name` (for the document's securitySchemes,
 * app.ts) and the security requirement a route names it by.
 */
export function bearerScheme<N extends string>(name: N, description: string) {
  return {
    scheme: { [name]: { type: 'http', scheme: 'bearer', description } } as Record<
      N,
      { type: 'http'; scheme: 'bearer'; description: string }
    >,
    requirement: [{ [name]: [] as string[] }] as Record<N, string[]>[],
  }
}
