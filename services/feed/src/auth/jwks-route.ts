import type { ServiceApp } from '@platform/http'
import type { AccessTokens } from './access-tokens.js'

export const JWKS_PATH = '/.well-known/jwks.json'

/**
 * The public keys of the feed's access tokens (RFC 7517 §5), for any service or gateway that verifies them itself.
 * Cacheable for a few minutes: a rotation adds the new key here before it signs anything (signing-keys.ts).
 */
export async function registerJwksRoute(app: ServiceApp, tokens: AccessTokens): Promise<void> {
  app.get(
    JWKS_PATH,
    {
      schema: {
        summary: 'Public keys of the access tokens (JWK Set)',
        tags: ['auth'],
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return tokens.jwks()
    },
  )
}
