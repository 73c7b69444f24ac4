import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { createAccessTokens } from '../src/auth/access-tokens.js'
import { loadSigningKeys } from '../src/auth/signing-keys.js'
import { loadServiceConfig } from '../src/config.js'

/**
 * Signs access tokens with the configured FEED_JWT_KEYS, one line per user id, for load tests and operators
 * (docs/feed.md#tokens). It holds the private keys, so it runs where the service's secrets are; the running service
 * has no route that hands out tokens without a login.
 *
 *   FEED_JWT_KEYS=... tsx services/feed/scripts/sign-token.ts <user-id>... [--sid <uuid>] [--ttl <seconds>]
 *
 * Each token gets its own session id unless --sid names one. Such a session has no row: the token works on every
 * route that only authenticates (commands, reads), not on GET /v1/auth/session, and no refresh token comes with it.
 */
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    sid: { type: 'string' },
    ttl: { type: 'string' },
  },
})

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const fail = (message: string): never => {
  process.stderr.write(`${message}\n`)
  process.exit(2)
}

if (positionals.length === 0) fail('usage: sign-token.ts <user-id>... [--sid <uuid>] [--ttl <seconds>]')
for (const id of positionals) if (!UUID.test(id)) fail(`not a user id (UUID): ${id}`)
if (values.sid !== undefined && !UUID.test(values.sid)) fail(`--sid is not a UUID: ${values.sid}`)

const config = loadServiceConfig()
// A key generated here would sign tokens no running instance accepts.
if (!config.FEED_JWT_KEYS) fail('FEED_JWT_KEYS is not set: sign with the keys the service runs with')
const ttlSeconds = values.ttl === undefined ? config.FEED_ACCESS_TOKEN_TTL_S : Number(values.ttl)
if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86_400) fail('--ttl must be 1 to 86400 seconds')

const keys = await loadSigningKeys({ algorithm: config.FEED_JWT_ALG, keys: config.FEED_JWT_KEYS, production: true })
const tokens = createAccessTokens({
  keys,
  issuer: config.FEED_JWT_ISSUER,
  audience: config.FEED_JWT_AUDIENCE,
  ttlSeconds,
})
for (const userId of positionals) {
  const issued = await tokens.issue({ userId, sessionId: values.sid ?? randomUUID() })
  process.stdout.write(`${issued.token}\n`)
}
