/**
 * Deterministic randomness and ids for the feed seed: the same options and --seed always give the same graph, so a
 * run can be reproduced and a test can check its shape.
 */

/** sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): 32-bit state words, floats in [0, 1). */
export function createRandom(seed: number): () => number {
  let a = 0x9e3779b9
  let b = 0x243f6a88
  let c = 0xb7e15162
  let d = seed >>> 0
  const next = () => {
    a >>>= 0
    b >>>= 0
    c >>>= 0
    d >>>= 0
    let t = (a + b) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    d = (d + 1) | 0
    t = (t + d) | 0
    c = (c + t) | 0
    return (t >>> 0) / 4_294_967_296
  }
  for (let i = 0; i < 15; i++) next()
  return next
}

/** A 32-bit mix of one integer (the murmur3 finaliser): the "random" bits of an id, without a generator's state. */
export function mix32(x: number): number {
  let h = x | 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

const hex = (n: number, digits: number) => n.toString(16).padStart(digits, '0')

/**
 * A UUIDv7 (RFC 9562 §5.7) whose 48-bit timestamp is `ms`, as the service makes them, so ids sort by time as the
 * feed's keyset cursors expect. The random bits are `seq` (unique per kind of row: what makes the id unique) and a
 * mix of `seq` and `kind`, so users and posts made in one millisecond still differ and spread over the shards
 * (shards.ts hashes all 16 bytes).
 */
export function seedUuid(ms: number, seq: number, kind: number): string {
  const h1 = mix32(seq ^ Math.imul(kind, 0x9e3779b9))
  const h2 = mix32(h1 + 1)
  const digits =
    hex(Math.floor(ms), 12) +
    '7' +
    hex(h1 & 0xfff, 3) +
    hex(0x8 | ((h1 >>> 12) & 0x3), 1) +
    hex(h2 & 0xfffffff, 7) +
    hex(seq >>> 0, 8)
  return `${digits.slice(0, 8)}-${digits.slice(8, 12)}-${digits.slice(12, 16)}-${digits.slice(16, 20)}-${digits.slice(20)}`
}

/** Fisher-Yates over 0..n-1. */
export function shuffledRange(n: number, random: () => number): Int32Array {
  const out = new Int32Array(n)
  for (let i = 0; i < n; i++) out[i] = i
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const tmp = out[i] as number
    out[i] = out[j] as number
    out[j] = tmp
  }
  return out
}

/**
 * A sampler of ranks 1..n with P(rank r) ~ r^-s (Zipf, 0 < s < 1), by inverting the continuous distribution's CDF:
 * one Math.pow per draw, no table. s = 0.8 over 1M users and 40M follows gives the top account about 400,000
 * followers, a handful above 100,000 and the median user about 15 (docs/performance.md#seed).
 */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  if (!(s > 0 && s < 1)) throw new Error(`the Zipf exponent must be in (0, 1): ${s}`)
  const e = 1 - s
  const span = n ** e - 1
  return () => Math.min(n, Math.floor((1 + random() * span) ** (1 / e)))
}

/** A draw of an exponential distribution of mean `mean`, rounded: small counts for most, a long tail for a few. */
export function exponentialCount(mean: number, random: () => number): number {
  return Math.round(-Math.log(1 - random()) * mean)
}
