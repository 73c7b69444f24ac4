import { randomUUID } from 'node:crypto'
import type { ServiceApp } from '@platform/http'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { rabbitAdmin, waitFor } from '@platform/testing'
import { buildApp } from '../src/app.js'
import { createAccessTokens } from '../src/auth/access-tokens.js'
import { generateSigningJwk, loadSigningKeys } from '../src/auth/signing-keys.js'
import { type Config, loadServiceConfig } from '../src/config.js'
import { createUsersRepository, type UserRow } from '../src/users/users-repository.js'

/**
 * The feed app as buildApp makes it, in this process, in a schema, vhost and Redis prefix of its own, with a signing
 * key made here: tests mint access tokens with the same keys (verification looks no session up), create users with
 * the users repository, and read what the outbox publishes from tap queues on the feed, activity and eventlog
 * exchanges.
 */
export interface TapMessage {
  exchange: string
  routingKey: string
  type: string | undefined
  messageId: string | undefined
  body: Record<string, unknown>
}

export interface TestUser {
  user: UserRow
  /** `authorization: Bearer ...` */
  auth: Record<string, string>
}

export interface FeedHarness {
  app: ServiceApp
  env: ServiceTestEnv
  config: Config
  newUser(handle?: string): Promise<TestUser>
  /** Every message the taps have received so far (drained into memory, so each is seen once). */
  messages(): Promise<TapMessage[]>
  /** Waits until a message matching `match` has arrived; returns it. */
  waitForMessage(match: (m: TapMessage) => boolean, message?: string): Promise<TapMessage>
  count(table: string, where?: Record<string, string>): Promise<number>
  close(): Promise<void>
}

const TAPS = [
  { queue: 'tap-feed', exchange: 'feed', key: '#' },
  { queue: 'tap-activity', exchange: 'activity', key: 'activity.#' },
  { queue: 'tap-eventlog', exchange: 'eventlog', key: 'eventlog.feed.#' },
]

export async function startFeed(overrides: Record<string, string> = {}): Promise<FeedHarness> {
  const jwk = await generateSigningJwk('EdDSA', `test-${randomUUID().slice(0, 8)}`)
  const env = await createServiceTestEnv('feed', {
    LOG_LEVEL: 'silent',
    FEED_JWT_KEYS: JSON.stringify({ keys: [jwk] }),
    ...overrides,
  })
  const config = loadServiceConfig(env.env)
  const app = await buildApp(config)
  await app.ready()

  const admin = rabbitAdmin()
  const vhost = encodeURIComponent(env.vhost.vhost)
  for (const tap of TAPS) {
    await admin.call('PUT', `/exchanges/${vhost}/${tap.exchange}`, { type: 'topic', durable: true })
    await admin.call('PUT', `/queues/${vhost}/${tap.queue}`, { durable: false })
    await admin.call('POST', `/bindings/${vhost}/e/${tap.exchange}/q/${tap.queue}`, { routing_key: tap.key })
  }

  const keys = await loadSigningKeys({ algorithm: 'EdDSA', keys: config.FEED_JWT_KEYS, production: false })
  const tokens = createAccessTokens({
    keys,
    issuer: config.FEED_JWT_ISSUER,
    audience: config.FEED_JWT_AUDIENCE,
    ttlSeconds: config.FEED_ACCESS_TOKEN_TTL_S,
  })
  const users = createUsersRepository(env.schema.sql)
  const seen: TapMessage[] = []

  async function messages(): Promise<TapMessage[]> {
    for (const tap of TAPS) {
      for (;;) {
        const got = await admin.getMessages(env.vhost.vhost, tap.queue, 100, false)
        for (const m of got) {
          seen.push({
            exchange: tap.exchange,
            routingKey: m.routing_key,
            type: m.properties.type,
            messageId: m.properties.message_id,
            body: JSON.parse(m.payload) as Record<string, unknown>,
          })
        }
        if (got.length < 100) break
      }
    }
    return seen
  }

  return {
    app,
    env,
    config,
    async newUser(handle = 'tester') {
      const user = await users.create({ handle, name: handle })
      const { token } = await tokens.issue({ userId: user.id, sessionId: randomUUID() })
      return { user, auth: { authorization: `Bearer ${token}` } }
    },
    messages,
    async waitForMessage(match, message = 'the message on a tap queue') {
      return waitFor(async () => (await messages()).find(match), { message })
    },
    async count(table, where = {}) {
      const { sql } = env.schema
      const conditions = Object.entries(where).map(([column, value]) => sql`${sql(column)} = ${value}`)
      const filter = conditions.reduce((all, c, i) => (i === 0 ? sql`where ${c}` : sql`${all} and ${c}`), sql``)
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(table)} ${filter}`
      return row?.n ?? 0
    },
    async close() {
      await app.close()
      await env.cleanup()
    },
  }
}

/** A fresh Idempotency-Key in the draft's form (an sf-string). */
export const newKey = () => `"${randomUUID()}"`

/** Headers of a command: the user's token and an Idempotency-Key. */
export const command = (user: TestUser, key = newKey()) => ({ ...user.auth, 'idempotency-key': key })
