import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import type { JWK } from 'jose'
import { generateSigningJwk, loadSigningKeys, type SigningAlgorithm } from '../src/auth/signing-keys.js'

/**
 * `npm run feed:keys`: prints a JWK Set of private signing keys for FEED_JWT_KEYS, and the sets of each step of a
 * key rotation (docs/feed.md#signing-keys-and-rotation). The steps read the current set from FEED_JWT_KEYS.
 *
 *   npm run feed:keys                        a new set with one new key
 *   npm run feed:keys -- --add               the current set with a new key at the end: it only verifies (step 1)
 *   npm run feed:keys -- --promote <kid>     the current set with <kid> first: it signs from then on (step 2)
 *   npm run feed:keys -- --drop <kid>        the current set without <kid>, once its tokens have expired (step 3)
 *   --alg ES256 / --kid <name>               the new key's algorithm (FEED_JWT_ALG, EdDSA by default) and kid
 *
 * The output is a secret: write it to the secret store, not to a file in the repository or a log.
 */
const { values } = parseArgs({
  options: {
    alg: { type: 'string', default: process.env.FEED_JWT_ALG ?? 'EdDSA' },
    kid: { type: 'string' },
    add: { type: 'boolean', default: false },
    promote: { type: 'string' },
    drop: { type: 'string' },
  },
})

const fail = (message: string): never => {
  process.stderr.write(`${message}\n`)
  process.exit(2)
}
const algorithm = values.alg as SigningAlgorithm
if (algorithm !== 'EdDSA' && algorithm !== 'ES256') fail(`--alg must be EdDSA or ES256, not ${values.alg}`)
const steps = [values.add, values.promote !== undefined, values.drop !== undefined].filter(Boolean).length
if (steps > 1) fail('give one of --add, --promote, --drop')

/** The set in the environment, checked as the service checks it, so a broken set is not turned into another. */
async function currentSet(): Promise<JWK[]> {
  const current = process.env.FEED_JWT_KEYS
  if (!current) return fail('--add, --promote and --drop read the current set from FEED_JWT_KEYS')
  await loadSigningKeys({ algorithm, keys: current, production: true })
  return (JSON.parse(current) as { keys: JWK[] }).keys
}

function indexOf(keys: JWK[], kid: string): number {
  const index = keys.findIndex((k) => k.kid === kid)
  if (index < 0) fail(`kid ${kid} is not in FEED_JWT_KEYS (${keys.map((k) => k.kid).join(', ')})`)
  return index
}

let keys: JWK[]
let note: string
if (values.promote !== undefined) {
  const current = await currentSet()
  const index = indexOf(current, values.promote)
  keys = [current[index] as JWK, ...current.filter((_, i) => i !== index)]
  note = `${values.promote} first: it signs once an instance runs with this set`
} else if (values.drop !== undefined) {
  const current = await currentSet()
  const index = indexOf(current, values.drop)
  if (current.length === 1) fail(`${values.drop} is the only key`)
  if (index === 0) fail(`${values.drop} signs (it is first): promote another key first`)
  keys = current.filter((_, i) => i !== index)
  note = `${values.drop} dropped: its tokens stop verifying`
} else {
  const kid = values.kid ?? `feed-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`
  const key = await generateSigningJwk(algorithm, kid)
  if (values.add) {
    const current = await currentSet()
    if (current.some((k) => k.kid === kid)) fail(`kid ${kid} is already in FEED_JWT_KEYS`)
    keys = [...current, key]
    note = `new key ${kid} (${algorithm}) last: it verifies only; promote it once every instance runs with this set`
  } else {
    keys = [key]
    note = `new key ${kid} (${algorithm})`
  }
}

process.stdout.write(`${JSON.stringify({ keys })}\n`)
process.stderr.write(`${note}\n`)
