import { createHash, timingSafeEqual } from 'node:crypto'

/** Fixed-length digests: the constant-time compare never sees inputs of different lengths, nor reveals one. */
const digest = (text: string) => createHash('sha256').update(text).digest()

/**
 * Whether a presented secret (a bearer token, a PKCE challenge, a stored hash) equals the expected one, compared
 * in constant time, so the time taken says nothing about how much of it matched.
 */
export function sameSecret(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected))
}
