import { createHash, randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose'

/**
 * An OpenID Connect issuer the test controls (tests only): discovery, an authorize endpoint that approves at once,
 * a token endpoint that checks the client and PKCE and returns an ID token signed with jose, and its JWKS. The
 * test bends the next ID token with `tamper` (another nonce, another issuer, another audience, an expired one) or
 * `foreignKey` (signed by a key its JWKS does not hold), which a real provider will not do on request.
 */
export interface OidcStandIn {
  issuer: string
  clientId: string
  clientSecret: string
  /** The subject and claims of the next ID token. */
  subject: string
  claims: Record<string, unknown>
  /** Claims that replace the right ones in the next ID tokens (nonce, iss, aud, exp ...). */
  tamper: Record<string, unknown>
  /** Sign with a key the JWKS does not publish. */
  foreignKey: boolean
  /** The token endpoint answers this status instead of working (503: a provider that is down). */
  tokenStatus?: number
  close(): Promise<void>
}

export async function startOidcStandIn(): Promise<OidcStandIn> {
  const app = Fastify()
  const own = await generateKeyPair('ES256', { extractable: true })
  const foreign = await generateKeyPair('ES256', { extractable: true })
  const publicJwk = { ...(await exportJWK(own.publicKey)), kid: 'stand-in-1', alg: 'ES256', use: 'sig' }
  const codes = new Map<string, { nonce?: string; challenge: string; redirectUri: string; clientId: string }>()
  const standIn: OidcStandIn = {
    issuer: '',
    clientId: 'stand-in-client',
    clientSecret: 'stand-in-secret-0123456789',
    subject: 'subject-1',
    claims: { name: 'Stand In', preferred_username: 'standin', email: 'standin@example.test', email_verified: true },
    tamper: {},
    foreignKey: false,
    close: () => app.close(),
  }
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_r, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  )

  app.get('/.well-known/openid-configuration', async () => ({
    issuer: standIn.issuer,
    authorization_endpoint: `${standIn.issuer}/authorize`,
    token_endpoint: `${standIn.issuer}/token`,
    jwks_uri: `${standIn.issuer}/jwks`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_post'],
  }))
  app.get('/jwks', async () => ({ keys: [publicJwk] }))

  app.get('/authorize', async (request, reply) => {
    const q = request.query as Record<string, string>
    if (q.client_id !== standIn.clientId || q.code_challenge_method !== 'S256' || !q.code_challenge) {
      return reply.code(400).send('bad request')
    }
    const code = randomBytes(12).toString('hex')
    codes.set(code, {
      ...(q.nonce ? { nonce: q.nonce } : {}),
      challenge: q.code_challenge,
      redirectUri: q.redirect_uri ?? '',
      clientId: q.client_id,
    })
    const back = new URL(q.redirect_uri ?? '')
    back.searchParams.set('code', code)
    if (q.state) back.searchParams.set('state', q.state)
    return reply.redirect(back.href, 302)
  })

  app.post('/token', async (request, reply) => {
    if (standIn.tokenStatus) return reply.code(standIn.tokenStatus).type('text/plain').send('down')
    const body = request.body as Record<string, string>
    if (body.client_id !== standIn.clientId || body.client_secret !== standIn.clientSecret) {
      return reply.code(401).send({ error: 'invalid_client' })
    }
    const grant = codes.get(body.code ?? '')
    codes.delete(body.code ?? '')
    const challenge = createHash('sha256')
      .update(body.code_verifier ?? '')
      .digest('base64url')
    if (!grant || grant.redirectUri !== body.redirect_uri || grant.challenge !== challenge) {
      return reply.code(400).send({ error: 'invalid_grant' })
    }
    const now = Math.floor(Date.now() / 1000)
    const claims = {
      iss: standIn.issuer,
      aud: grant.clientId,
      sub: standIn.subject,
      iat: now,
      exp: now + 300,
      ...(grant.nonce ? { nonce: grant.nonce } : {}),
      ...standIn.claims,
      ...standIn.tamper,
    }
    const key: CryptoKey = standIn.foreignKey ? foreign.privateKey : own.privateKey
    const idToken = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'stand-in-1' }).sign(key)
    return { access_token: randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: 300, id_token: idToken }
  })

  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  standIn.issuer = url
  return standIn
}
