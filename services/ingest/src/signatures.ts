import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto'
import type { SignatureScheme } from './sources.js'

/**
 * Webhook signature schemes, each checked over the raw body bytes (re-serialised JSON would not match what the
 * provider signed) with a constant-time comparison against every configured secret (rotation).
 *
 *  - stripe:   `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, HMAC-SHA256("<t>.<body>") keyed by the secret's
 *              UTF-8 bytes (https://docs.stripe.com/webhooks#verify-manually).
 *  - standard: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> [v1,<base64>...]`,
 *              HMAC-SHA256("<id>.<timestamp>.<body>") keyed by the base64-decoded part of `whsec_<base64>`
 *              (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md).
 *  - github:   `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256(body), no timestamp: replays are stopped by the
 *              dedupe on X-GitHub-Delivery (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries).
 */
export type SignatureFailure =
  | 'missing_headers'
  | 'malformed_header'
  | 'stale_timestamp'
  | 'future_timestamp'
  | 'mismatch'

export type Verification = { ok: true } | { ok: false; reason: SignatureFailure }

export interface VerifyInput {
  scheme: SignatureScheme
  secrets: string[]
  toleranceSeconds: number
  /** Lower-cased header names, as Node gives them. */
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  /** Unix seconds; tests pin it. */
  now?: number
}

const ok: Verification = { ok: true }
const fail = (reason: SignatureFailure): Verification => ({ ok: false, reason })

function header(headers: VerifyInput['headers'], name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

/**
 * HMAC keys by secret, imported once: createHmac with raw key bytes imports the key on every call, which showed in
 * ingest's profile. A handful of configured secrets, so the cache stays small.
 */
const keys = new Map<string, KeyObject>()
function keyOf(secret: string, encoding: 'utf8' | 'whsec'): KeyObject {
  const id = `${encoding}:${secret}`
  let key = keys.get(id)
  if (!key) {
    key = createSecretKey(encoding === 'whsec' ? standardSecretKey(secret) : Buffer.from(secret, 'utf8'))
    keys.set(id, key)
  }
  return key
}

const hmac = (key: KeyObject | Buffer, ...parts: (string | Buffer)[]) => {
  const mac = createHmac('sha256', key)
  for (const part of parts) mac.update(part)
  return mac.digest()
}

/** Equal-length compare in constant time; a length mismatch reveals only the length, which is public. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

/** True when any expected MAC equals any candidate; every pair is compared, so timing says nothing about which. */
function anyMatch(expected: Buffer[], candidates: Buffer[]): boolean {
  let found = false
  for (const e of expected) for (const c of candidates) found = sameBytes(e, c) || found
  return found
}

function checkTimestamp(raw: string, tolerance: number, now: number): Verification | undefined {
  if (!/^\d{1,12}$/.test(raw)) return fail('malformed_header')
  const t = Number(raw)
  if (t < now - tolerance) return fail('stale_timestamp')
  if (t > now + tolerance) return fail('future_timestamp')
  return undefined
}

function verifyStripe(input: VerifyInput, now: number): Verification {
  const value = header(input.headers, 'stripe-signature')
  if (!value) return fail('missing_headers')
  let timestamp: string | undefined
  const signatures: Buffer[] = []
  for (const item of value.split(',')) {
    const [key, v] = item.trim().split('=', 2)
    if (key === 't') timestamp = v
    // Other schemes (v0 = test mode) are ignored, as Stripe's own libraries do.
    else if (key === 'v1' && v && /^[0-9a-f]{64}$/i.test(v)) signatures.push(Buffer.from(v, 'hex'))
  }
  if (timestamp === undefined || signatures.length === 0) return fail('malformed_header')
  const expected = input.secrets.map((s) => hmac(keyOf(s, 'utf8'), `${timestamp}.`, input.body))
  if (!anyMatch(expected, signatures)) return fail('mismatch')
  // Checked after the MAC, so an attacker cannot learn the tolerance window from unsigned requests.
  return checkTimestamp(timestamp, input.toleranceSeconds, now) ?? ok
}

/** `whsec_<base64>` → key bytes (Standard Webhooks §Signature scheme). */
export function standardSecretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64')
}

function verifyStandard(input: VerifyInput, now: number): Verification {
  const id = header(input.headers, 'webhook-id')
  const timestamp = header(input.headers, 'webhook-timestamp')
  const value = header(input.headers, 'webhook-signature')
  if (!id || !timestamp || !value) return fail('missing_headers')
  const signatures = value
    .split(' ')
    .map((entry) => entry.split(','))
    .filter(([version, sig]) => version === 'v1' && sig)
    .map(([, sig]) => Buffer.from(sig as string, 'base64'))
  if (signatures.length === 0) return fail('malformed_header')
  const expected = input.secrets.map((s) => hmac(keyOf(s, 'whsec'), `${id}.${timestamp}.`, input.body))
  if (!anyMatch(expected, signatures)) return fail('mismatch')
  return checkTimestamp(timestamp, input.toleranceSeconds, now) ?? ok
}

function verifyGithub(input: VerifyInput): Verification {
  const value = header(input.headers, 'x-hub-signature-256')
  if (!value || !header(input.headers, 'x-github-delivery')) return fail('missing_headers')
  const match = /^sha256=([0-9a-f]{64})$/i.exec(value)
  if (!match) return fail('malformed_header')
  const expected = input.secrets.map((s) => hmac(keyOf(s, 'utf8'), input.body))
  return anyMatch(expected, [Buffer.from(match[1] as string, 'hex')]) ? ok : fail('mismatch')
}

export function verifySignature(input: VerifyInput): Verification {
  const now = input.now ?? Math.floor(Date.now() / 1000)
  switch (input.scheme) {
    case 'stripe':
      return verifyStripe(input, now)
    case 'standard':
      return verifyStandard(input, now)
    case 'github':
      return verifyGithub(input)
  }
}

/** Signing helpers for tests, the seed script and the benchmark: the same formulas, from the sender's side. */
export const sign = {
  stripe(secret: string, body: string | Buffer, timestamp = Math.floor(Date.now() / 1000)) {
    const mac = hmac(Buffer.from(secret, 'utf8'), `${timestamp}.`, body).toString('hex')
    return { 'stripe-signature': `t=${timestamp},v1=${mac}` }
  },
  standard(secret: string, id: string, body: string | Buffer, timestamp = Math.floor(Date.now() / 1000)) {
    const mac = hmac(standardSecretKey(secret), `${id}.${timestamp}.`, body).toString('base64')
    return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${mac}` }
  },
  github(secret: string, delivery: string, body: string | Buffer, event = 'push') {
    const mac = hmac(Buffer.from(secret, 'utf8'), body).toString('hex')
    return { 'x-hub-signature-256': `sha256=${mac}`, 'x-github-delivery': delivery, 'x-github-event': event }
  },
}
