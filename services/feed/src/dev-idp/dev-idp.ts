import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair } from 'jose'
import Provider, { type ClientMetadata, type Configuration } from 'oidc-provider'

/**
 * The DEVELOPMENT identity provider: a real OpenID Connect provider (oidc-provider v9, https://github.com/panva/node-oidc-provider)
 * with its development interactions, the built-in login and consent forms, where ANY login name with ANY password
 * is accepted. It lets `npm start` log a newcomer in with no external account, and the end-to-end tests run the
 * full browser flow against a real provider. Never for production: the feed refuses its providers entry there
 * (providers-config.ts) and server.ts refuses to start.
 *
 * The account is the login name typed into the form: `sub` is that name, and the claims say so (name, a
 * preferred_username, an @dev-idp.test email). Signing keys, cookie keys and everything it stores (sessions,
 * codes, grants; oidc-provider's in-memory adapter) live as long as the process.
 */
export const DEV_CLIENT_ID = 'feed-dev'
/** Published in this repository, like the development providers file that repeats it (infra/feed-auth-providers.json). */
export const DEV_CLIENT_SECRET = 'dev-only-feed-client-secret-not-for-production'
export const DEV_IDP_DEFAULT_URL = 'http://127.0.0.1:3009'

export interface DevIdpOptions {
  /** Where to listen; port 0 picks a free one, and the issuer follows it. */
  host?: string
  port?: number
  /** The issuer when it is not http://<host>:<port> (behind a proxy). */
  issuer?: string
  /** The clients allowed to log in; by default none. */
  clients: ClientMetadata[]
  /** Seconds an authorization code lives (oidc-provider's default is 60). */
  codeTtlSeconds?: number
}

export interface DevIdp {
  issuer: string
  provider: Provider
  close(): Promise<void>
}

/** The client the feed's development providers entry uses, for the given callback URLs. */
export function devClient(redirectUris: string[]): ClientMetadata {
  return {
    client_id: DEV_CLIENT_ID,
    client_secret: DEV_CLIENT_SECRET,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }
}

function configuration(clients: ClientMetadata[], signingKey: object, codeTtlSeconds: number): Configuration {
  return {
    clients,
    // Any login name is an account; its claims are made from the name (there is nothing else to know).
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          const handle =
            sub
              .toLowerCase()
              .replace(/[^a-z0-9_]+/g, '_')
              .slice(0, 30) || 'user'
          return {
            sub,
            name: sub,
            preferred_username: handle,
            email: `${handle}@dev-idp.test`,
            email_verified: true,
          }
        },
      }
    },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'picture'],
      email: ['email', 'email_verified'],
    },
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    jwks: { keys: [signingKey] },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: codeTtlSeconds,
      IdToken: 600,
      Interaction: 600,
      Session: 8 * 3600,
      Grant: 8 * 3600,
    },
    async renderError(ctx, out) {
      ctx.type = 'json'
      ctx.body = out
    },
  } as Configuration
}

export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const host = options.host ?? '127.0.0.1'
  const server: Server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  const issuer = options.issuer ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const signingKey = {
    ...(await exportJWK(privateKey)),
    kid: `dev-${Date.now().toString(36)}`,
    alg: 'RS256',
    use: 'sig',
  }
  const provider = new Provider(issuer, configuration(options.clients, signingKey, options.codeTtlSeconds ?? 60))
  server.on('request', provider.callback())
  return {
    issuer,
    provider,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
