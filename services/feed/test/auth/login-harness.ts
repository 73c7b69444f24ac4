import { createServer } from 'node:net'
import type { ServiceApp } from '@platform/http'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { rabbitAdmin } from '@platform/testing'
import { buildApp } from '../../src/app.js'
import { loadServiceConfig } from '../../src/config.js'
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET, type DevIdp, devClient, startDevIdp } from '../../src/dev-idp/dev-idp.js'
import { type GithubStandIn, startGithubStandIn } from './github-stand-in.js'
import { type OidcStandIn, startOidcStandIn } from './oidc-stand-in.js'

/**
 * The feed, listening on a real port, with three providers the test runs itself: `dev` (a REAL oidc-provider, the
 * development IdP module), `mock` (the OIDC stand-in whose ID tokens the test bends) and `github` (the GitHub
 * stand-in). The feed's schema, vhost and Redis prefix are its own; a tap queue on `activity` shows the login events.
 */
export const CLIENT_REDIRECT = 'http://127.0.0.1:1/app/callback'

export interface LoginHarness {
  app: ServiceApp
  feedUrl: string
  env: ServiceTestEnv
  idp: DevIdp
  oidc: OidcStandIn
  github: GithubStandIn
  close(): Promise<void>
}

/** A port free right now (the feed's public URL must be known before its config is built). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

export async function startLoginHarness(overrides: Record<string, string> = {}): Promise<LoginHarness> {
  const port = await freePort()
  const feedUrl = `http://127.0.0.1:${port}`
  const [idp, oidc, github] = await Promise.all([
    startDevIdp({ clients: [devClient([`${feedUrl}/v1/auth/dev/callback`])], codeTtlSeconds: 60 }),
    startOidcStandIn(),
    startGithubStandIn(),
  ])
  const providers = [
    {
      name: 'dev',
      kind: 'oidc',
      development: true,
      issuer: idp.issuer,
      clientId: DEV_CLIENT_ID,
      clientSecret: DEV_CLIENT_SECRET,
    },
    { name: 'mock', kind: 'oidc', issuer: oidc.issuer, clientId: oidc.clientId, clientSecretEnv: 'TEST_MOCK_SECRET' },
    {
      name: 'github',
      kind: 'github',
      clientId: github.clientId,
      clientSecretEnv: 'TEST_GITHUB_SECRET',
      authorizeUrl: `${github.url}/login/oauth/authorize`,
      tokenUrl: `${github.url}/login/oauth/access_token`,
      apiBaseUrl: github.url,
    },
  ]
  const env = await createServiceTestEnv('feed_login', {
    PORT: String(port),
    LOG_LEVEL: 'silent',
    FEED_PUBLIC_URL: feedUrl,
    FEED_AUTH_PROVIDERS: JSON.stringify({ providers }),
    FEED_AUTH_REDIRECT_ALLOWLIST: CLIENT_REDIRECT,
    FEED_AUTH_PROVIDER_TIMEOUT_MS: '3000',
    TEST_MOCK_SECRET: oidc.clientSecret,
    TEST_GITHUB_SECRET: github.clientSecret,
    ...overrides,
  })
  const vhost = encodeURIComponent(env.vhost.vhost)
  const admin = rabbitAdmin()
  await admin.call('PUT', `/exchanges/${vhost}/activity`, { type: 'topic', durable: true })
  await admin.call('PUT', `/queues/${vhost}/tap-activity`, { durable: false })
  await admin.call('POST', `/bindings/${vhost}/e/activity/q/tap-activity`, { routing_key: 'activity.#' })
  await admin.call('PUT', `/exchanges/${vhost}/eventlog`, { type: 'topic', durable: true })
  await admin.call('PUT', `/queues/${vhost}/tap-eventlog`, { durable: false })
  await admin.call('POST', `/bindings/${vhost}/e/eventlog/q/tap-eventlog`, { routing_key: 'eventlog.feed.#' })

  const app = await buildApp(loadServiceConfig(env.env))
  await app.listen({ port, host: '127.0.0.1' })
  return {
    app,
    feedUrl,
    env,
    idp,
    oidc,
    github,
    async close() {
      await app.close()
      await Promise.allSettled([idp.close(), oidc.close(), github.close()])
      await env.cleanup()
    },
  }
}
