import { createHash } from 'node:crypto'
import { ProblemError } from '@platform/http'
import { feedProblems } from '../problems.js'

/**
 * The Idempotency-Key request header of every command (IETF httpapi draft "The Idempotency-Key HTTP Header Field",
 * https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/): a Structured Field Item whose value
 * is a String (RFC 8941 §3.3.3), e.g. `Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"`.
 *
 * Most clients in the wild (Stripe's SDKs among them) send the key bare, without the quotes; that form is accepted
 * too, and names the same key: `abc` and `"abc"` are one key. Everything else is refused with 400 rather than
 * guessed at: a missing or empty header, a second header (Node joins them with ", ", which no key here may hold),
 * parameters (`"k";a=1`: the draft defines none), bytes outside printable ASCII, more than MAX_KEY_LENGTH characters.
 * A UUID (v4, or v7) per logical operation is what clients should send.
 */
export const IDEMPOTENCY_HEADER = 'idempotency-key'
/** The response header of a replayed response (the value is always `true`). */
export const REPLAYED_HEADER = 'idempotent-replayed'
/** Characters of a key (Stripe's limit): a UUID is 36. */
export const MAX_KEY_LENGTH = 255

/** RFC 8941 §3.3.3: DQUOTE *( unescaped / "\" ( DQUOTE / "\" ) ) DQUOTE, unescaped = %x20-21 / %x23-5B / %x5D-7E. */
const SF_STRING = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/
/** The bare form: printable ASCII without space, DQUOTE, comma, semicolon or backslash (no list, no parameters). */
const BARE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$/

const problem = (kind: 'missing' | 'malformed', detail: string) =>
  new ProblemError(kind === 'missing' ? feedProblems.idempotencyKeyMissing : feedProblems.idempotencyKeyInvalid, {
    detail,
    code: kind === 'missing' ? 'FEED_IDEMPOTENCY_KEY_MISSING' : 'FEED_IDEMPOTENCY_KEY_INVALID',
    extensions: { errors: [{ in: 'headers', pointer: `/${IDEMPOTENCY_HEADER}`, message: detail }] },
  })

/** The key of the header's value; throws a 400 ProblemError (idempotency-key-missing / -invalid). */
export function parseIdempotencyKey(header: string | string[] | undefined): string {
  if (header === undefined || header === '') {
    throw problem('missing', 'Every command needs an Idempotency-Key header, e.g. Idempotency-Key: "<a new UUID>".')
  }
  if (Array.isArray(header)) throw problem('malformed', 'Send one Idempotency-Key header.')
  const value = header.trim()
  const quoted = SF_STRING.exec(value)
  const key = quoted ? (quoted[1] as string).replace(/\\(["\\])/g, '$1') : BARE.test(value) ? value : undefined
  if (key === undefined) {
    throw problem(
      'malformed',
      'The Idempotency-Key must be one string of printable ASCII characters, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324".',
    )
  }
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw problem('malformed', `The Idempotency-Key must hold 1 to ${MAX_KEY_LENGTH} characters.`)
  }
  return key
}

/** JSON with object keys sorted, so two equal inputs hash alike whatever order their members came in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/**
 * What "the same request" means for a key (the draft's request fingerprint): SHA-256 of the method, the route
 * pattern and the command's input as the domain receives it (path ids in lower case, the text after normalisation).
 * So a retry that sends the same text in another Unicode normalisation form, or the id in upper case, is the same
 * request; anything that would change the effect is not.
 */
export function requestFingerprint(method: string, route: string, input: Record<string, unknown>): Buffer {
  return createHash('sha256')
    .update(canonicalJson([method.toUpperCase(), route, input]))
    .digest()
}
