import type { ServiceApp } from '@platform/http'
import { counter } from '@platform/metrics'
import type { ServiceRuntime } from '@platform/service'
import type { preHandlerAsyncHookHandler } from 'fastify'
import type { Config } from '../config.js'
import { createIdentitiesRepository } from '../users/identities-repository.js'
import type { UsersRepository } from '../users/users-repository.js'
import { authRateLimit } from './auth-rate-limit.js'
import { createIdentityProviders } from './identity-providers.js'
import { callbackUrlOf } from './login.js'
import { registerLoginRoutes } from './login-routes.js'
import { createLoginStates } from './login-state.js'
import type { Sessions } from './sessions.js'

/**
 * Login through identity providers, wired (docs/feed.md#login): the configured providers, the login states in
 * Redis, the routes. One line per provider at start says where its callback is, and the development IdP says
 * what it is, in capitals: any login is accepted there.
 */
export async function registerIdentityLogin(
  app: ServiceApp,
  options: {
    runtime: ServiceRuntime<true>
    config: Config
    authenticate: preHandlerAsyncHookHandler
    users: UsersRepository
    sessions: Sessions
  },
): Promise<void> {
  const { runtime, config } = options
  const production = config.NODE_ENV === 'production'
  const providers = createIdentityProviders(config.authProviders, {
    logger: runtime.logger,
    timeoutMs: config.FEED_AUTH_PROVIDER_TIMEOUT_MS,
    production,
  })
  for (const provider of config.authProviders.values()) {
    const where = {
      provider: provider.name,
      kind: provider.kind,
      callback: callbackUrlOf(config.FEED_PUBLIC_URL, provider.name),
      ...(provider.kind === 'oidc' ? { issuer: provider.issuer.href } : {}),
    }
    if (provider.kind === 'oidc' && provider.development) {
      runtime.logger.warn(where, 'DEVELOPMENT identity provider: any login is accepted')
    } else {
      runtime.logger.info(where, 'identity provider configured')
    }
  }
  await registerLoginRoutes(app, {
    deps: {
      sql: runtime.sql,
      users: options.users,
      identities: createIdentitiesRepository(runtime.sql),
      sessions: options.sessions,
      eventLog: runtime.eventLog,
      states: createLoginStates(runtime.redis, config.FEED_AUTH_LOGIN_TTL_S),
      providers,
      clientRedirects: config.clientRedirects,
      publicUrl: config.FEED_PUBLIC_URL,
    },
    authenticate: options.authenticate,
    rateLimit: authRateLimit(config),
    loginTtlSeconds: config.FEED_AUTH_LOGIN_TTL_S,
    logins: counter(
      runtime.registry,
      'feed_logins_total',
      'Callbacks of logins and links through identity providers, by provider and outcome',
      ['provider', 'outcome'],
    ),
  })
}
