import type { ServiceApp } from '@platform/http'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { createLogger } from '@platform/logging'
import { createRegistry } from '@platform/metrics'
import type { JWK } from 'jose'
import { buildApp } from '../src/app.js'
import { createAccessTokens } from '../src/auth/access-tokens.js'
import { createSessions, type Sessions } from '../src/auth/sessions.js'
import { generateSigningJwk, loadSigningKeys } from '../src/auth/signing-keys.js'
import { type Config, loadServiceConfig } from '../src/config.js'
import { createUsersRepository, type UserRow } from '../src/users/users-repository.js'

/**
 * A feed app on an isolated schema, vhost and Redis prefix, for the token tests: its configured signing keys, a
 * clock the test moves, the log lines it wrote, and a second `sessions` on the same schema and keys to start
 * sessions with (the login routes are not part of these tests).
 */
export interface FeedAuthHarness {
  app: ServiceApp
  config: Config
  testEnv: ServiceTestEnv
  /** The private JWKs of FEED_JWT_KEYS, in order. */
  jwks: JWK[]
  /** Frozen at the start; tests move it, and reset it to the start (access tokens verify against the real time). */
  clock: { now: number; advance(seconds: number): void; reset(): void }
  /** Every JSON line the app logged. */
  logs: string[]
  sessions: Sessions
  createUser(handle?: string): Promise<UserRow>
  /** Another app on the same environment, e.g. with other keys (closed with the harness). */
  buildAnother(env: Record<string, string>): Promise<ServiceApp>
  close(): Promise<void>
}

export const jwkSet = (...keys: JWK[]) => JSON.stringify({ keys })

export async function startFeedAuth(
  env: Record<string, string> = {},
  options: { keys?: JWK[]; testEnv?: ServiceTestEnv } = {},
): Promise<FeedAuthHarness> {
  const jwks = options.keys ?? [await generateSigningJwk('EdDSA', 'test-key-1')]
  const testEnv =
    options.testEnv ??
    (await createServiceTestEnv('feed_auth', { LOG_LEVEL: 'info', FEED_JWT_KEYS: jwkSet(...jwks), ...env }))
  const config = loadServiceConfig({ ...testEnv.env, ...env })
  const start = Date.now()
  const clock = {
    now: start,
    advance(seconds: number) {
      clock.now += seconds * 1000
    },
    reset() {
      clock.now = start
    },
  }
  const now = () => new Date(clock.now)
  const logs: string[] = []
  const logger = createLogger({ service: 'feed', level: 'info', destination: { write: (line) => logs.push(line) } })
  const app = await buildApp(config, { now, logger })
  const others: ServiceApp[] = []

  const keys = await loadSigningKeys({ algorithm: config.FEED_JWT_ALG, keys: config.FEED_JWT_KEYS, production: false })
  const tokens = createAccessTokens({
    keys,
    issuer: config.FEED_JWT_ISSUER,
    audience: config.FEED_JWT_AUDIENCE,
    ttlSeconds: config.FEED_ACCESS_TOKEN_TTL_S,
  })
  const sql = testEnv.schema.sql
  const sessions = createSessions({
    sql,
    tokens,
    logger: createLogger({ service: 'feed-test', level: 'silent' }),
    registry: createRegistry(),
    idleTtlSeconds: config.FEED_REFRESH_IDLE_TTL_S,
    absoluteTtlSeconds: config.FEED_REFRESH_ABSOLUTE_TTL_S,
    reuseGraceSeconds: config.FEED_REFRESH_REUSE_GRACE_S,
    now,
  })
  const users = createUsersRepository(sql)
  let userCount = 0

  return {
    app,
    config,
    testEnv,
    jwks,
    clock,
    logs,
    sessions,
    createUser: (handle = `user${++userCount}`) => users.create({ handle, name: handle }),
    async buildAnother(extra) {
      const other = await buildApp(loadServiceConfig({ ...testEnv.env, ...extra }), {
        logger: createLogger({ service: 'feed', level: 'silent' }),
      })
      others.push(other)
      return other
    },
    async close() {
      await Promise.allSettled([app.close(), ...others.map((o) => o.close())])
      if (!options.testEnv) await testEnv.cleanup()
    },
  }
}

export const form = (fields: Record<string, string>) => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams(fields).toString(),
})
