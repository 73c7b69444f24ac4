import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { generateSigningJwk, loadSigningKeys, type SigningAlgorithm } from '../src/auth/signing-keys.js'

/**
 * `npm run feed:keys`: prints a JWK Set of private signing keys for FEED_JWT_KEYS (docs/feed.md#tokens).
 *
 *   npm run feed:keys                       a set with one new key
 *   npm run feed:keys -- --alg ES256        the key for FEED_JWT_ALG=ES256 (EdDSA by default)
 *   npm run feed:keys -- --rotate           the new key first, then the keys of the FEED_JWT_KEYS in the
 *                                           environment (rotation, step 2 of docs/feed.md#key-rotation)
 *
 * The output is a secret: write it to the secret store, not to a file in the repository or a log.
 */
const { values } = parseArgs({
  options: {
    alg: { type: 'string', default: process.env.FEED_JWT_ALG ?? 'EdDSA' },
    kid: { type: 'string' },
    rotate: { type: 'boolean', default: false },
  },
})

const algorithm = values.alg as SigningAlgorithm
if (algorithm !== 'EdDSA' && algorithm !== 'ES256') {
  process.stderr.write(`--alg must be EdDSA or ES256, not ${values.alg}\n`)
  process.exit(2)
}
const kid = values.kid ?? `feed-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`
const key = await generateSigningJwk(algorithm, kid)

let existing: unknown[] = []
if (values.rotate) {
  const current = process.env.FEED_JWT_KEYS
  if (!current) {
    process.stderr.write('--rotate needs the current FEED_JWT_KEYS in the environment\n')
    process.exit(2)
  }
  // Validated as the service would, so a broken set is not rotated into a second broken one.
  const loaded = await loadSigningKeys({ algorithm, keys: current, production: true })
  if (loaded.byKid.has(kid)) {
    process.stderr.write(`kid ${kid} is already in FEED_JWT_KEYS\n`)
    process.exit(2)
  }
  existing = (JSON.parse(current) as { keys: unknown[] }).keys
}

process.stdout.write(`${JSON.stringify({ keys: [key, ...existing] })}\n`)
process.stderr.write(`new key ${kid} (${algorithm}) first; it signs once every instance runs with this set\n`)
