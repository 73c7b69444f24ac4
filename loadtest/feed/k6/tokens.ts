/**
 * The container variant's data file: access tokens of active seeded users (scripts/sign-token.ts with FEED_JWT_KEYS,
 * the key the compose `feed` runs with) and ids of recent posts, as JSON {tokens, postIds} on stdout, for the k6
 * scripts (TOKENS_FILE). Reads the seeded feed schema (DATABASE_URL, DB_SCHEMA: the compose PostgreSQL, published
 * on 127.0.0.1:5432). run.sh calls it.
 *
 *   FEED_JWT_KEYS=... node --import tsx loadtest/feed/k6/tokens.ts [--users 2000] > loadtest/results/feed-tokens.json
 */
import { parseArgs } from 'node:util'
import { createSql } from '@platform/db'
import { activeUsers, recentPosts, signTokens } from '../feed-process.js'

const { values } = parseArgs({ options: { users: { type: 'string', default: '2000' } } })
if (!process.env.FEED_JWT_KEYS) {
  process.stderr.write('FEED_JWT_KEYS is not set: sign with the key the feed runs with\n')
  process.exit(2)
}
const sql = createSql({
  url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  schema: process.env.DB_SCHEMA ?? 'feed',
  max: 2,
})
try {
  const users = await activeUsers(sql, Number(values.users))
  if (users.length === 0) throw new Error('no seeded active users: run `npm run seed:feed` first')
  const tokens = await signTokens(users, process.env)
  process.stdout.write(`${JSON.stringify({ tokens, postIds: await recentPosts(sql, 5000) })}\n`)
} finally {
  await sql.end({ timeout: 5 })
}
