import { ConfigError } from '@platform/config'
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose'

/**
 * The keys the feed signs its access tokens with (docs/feed.md#tokens). FEED_JWT_KEYS holds a JWK Set of private
 * keys (RFC 7517 §5), each with a `kid`: the FIRST signs, the others only verify. Rotation is therefore three
 * deploys (`npm run feed:keys -- --add | --promote | --drop`, docs/feed.md#signing-keys-and-rotation): add the new
 * key last (every instance learns it), move it first (it signs), drop the old one once the last token it signed
 * has expired (the access-token lifetime, 15 minutes by default). Every key's public half is served at
 * /.well-known/jwks.json.
 *
 * Outside production an unset FEED_JWT_KEYS means one key generated at start: tokens then die with the process,
 * which is fine for `npm start` and says so in the log. Production must configure keys (several instances must
 * verify each other's tokens).
 */
export type SigningAlgorithm = 'EdDSA' | 'ES256'

export interface SigningKey {
  kid: string
  privateKey: CryptoKey | Uint8Array
  publicKey: CryptoKey | Uint8Array
  /** The public JWK as served in the JWKS: kty, crv, x (and y), kid, alg, use. */
  publicJwk: JWK
}

export interface SigningKeys {
  algorithm: SigningAlgorithm
  /** The key that signs; the first of FEED_JWT_KEYS. */
  active: SigningKey
  /** Every key that verifies, by kid (the active one included). */
  byKid: ReadonlyMap<string, SigningKey>
  /** True when the key was generated at start (no FEED_JWT_KEYS outside production). */
  ephemeral: boolean
}

const CURVE: Record<SigningAlgorithm, { kty: string; crv: string }> = {
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  ES256: { kty: 'EC', crv: 'P-256' },
}

const VARIABLE = 'FEED_JWT_KEYS'
const invalid = (message: string) => new ConfigError([{ variable: VARIABLE, message }])

/** The public members of a private JWK: never `d`. */
function publicPart(jwk: JWK, kid: string, algorithm: SigningAlgorithm): JWK {
  const { kty, crv, x, y } = jwk
  return { kty, crv, x, ...(y === undefined ? {} : { y }), kid, alg: algorithm, use: 'sig' }
}

async function fromJwk(jwk: JWK, index: number, algorithm: SigningAlgorithm): Promise<SigningKey> {
  const where = `key ${index}`
  const expected = CURVE[algorithm]
  if (typeof jwk.kid !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(jwk.kid)) {
    throw invalid(`${where} needs a "kid" of 1 to 64 letters, digits, ".", "_" or "-"`)
  }
  if (jwk.kty !== expected.kty || jwk.crv !== expected.crv) {
    throw invalid(`${where} (kid ${jwk.kid}) must be kty ${expected.kty} crv ${expected.crv} for ${algorithm}`)
  }
  if (jwk.alg !== undefined && jwk.alg !== algorithm) {
    throw invalid(`${where} (kid ${jwk.kid}) has alg ${jwk.alg}, FEED_JWT_ALG is ${algorithm}`)
  }
  if (typeof jwk.d !== 'string') throw invalid(`${where} (kid ${jwk.kid}) is not a private key (no "d")`)
  const publicJwk = publicPart(jwk, jwk.kid, algorithm)
  try {
    return {
      kid: jwk.kid,
      privateKey: await importJWK({ ...jwk, alg: algorithm }, algorithm),
      publicKey: await importJWK(publicJwk, algorithm),
      publicJwk,
    }
  } catch (error) {
    throw invalid(`${where} (kid ${jwk.kid}) cannot be imported: ${(error as Error).message}`)
  }
}

/** A new key pair as a private JWK (for FEED_JWT_KEYS; `npm run feed:keys` prints one). */
export async function generateSigningJwk(algorithm: SigningAlgorithm, kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair(algorithm, { crv: CURVE[algorithm].crv, extractable: true })
  return { ...(await exportJWK(privateKey)), kid, alg: algorithm, use: 'sig' }
}

/** Parses FEED_JWT_KEYS; throws a ConfigError naming the variable and the bad key, never echoing a private key. */
export async function loadSigningKeys(options: {
  algorithm: SigningAlgorithm
  /** FEED_JWT_KEYS: a JWK Set as JSON; empty or undefined generates one key (refused in production). */
  keys: string | undefined
  production: boolean
}): Promise<SigningKeys> {
  const { algorithm } = options
  if (options.keys === undefined || options.keys === '') {
    if (options.production) throw invalid('is required in production (a JWK Set of private signing keys)')
    const jwk = await generateSigningJwk(algorithm, `dev-${Date.now().toString(36)}`)
    const key = await fromJwk(jwk, 0, algorithm)
    return { algorithm, active: key, byKid: new Map([[key.kid, key]]), ephemeral: true }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(options.keys)
  } catch {
    throw invalid('is not JSON (expected a JWK Set: {"keys":[...]})')
  }
  const list = (parsed as { keys?: unknown })?.keys
  if (!Array.isArray(list) || list.length === 0)
    throw invalid('must be a JWK Set with at least one key: {"keys":[...]}')
  const keys: SigningKey[] = []
  for (const [index, jwk] of list.entries()) {
    if (typeof jwk !== 'object' || jwk === null) throw invalid(`key ${index} is not an object`)
    keys.push(await fromJwk(jwk as JWK, index, algorithm))
  }
  const byKid = new Map<string, SigningKey>()
  for (const key of keys) {
    if (byKid.has(key.kid)) throw invalid(`kid ${key.kid} appears twice`)
    byKid.set(key.kid, key)
  }
  return { algorithm, active: keys[0] as SigningKey, byKid, ephemeral: false }
}
