import { Webhook } from 'standardwebhooks'
import Stripe from 'stripe'
import { describe, expect, it } from 'vitest'
import { sign, type VerifyInput, verifySignature } from '../src/signatures.js'

/**
 * Each scheme against published test vectors and against signatures made by the providers' own libraries
 * (`stripe`, `standardwebhooks`), plus the ways a delivery can be wrong.
 */
const NOW = 1_700_000_000
const verify = (input: Omit<VerifyInput, 'toleranceSeconds' | 'now'> & { now?: number }) =>
  verifySignature({ toleranceSeconds: 300, now: NOW, ...input })
const body = Buffer.from('{"id":"evt_1","type":"charge.succeeded"}')

describe('stripe', () => {
  const secret = 'whsec_test_secret_abcdef'
  const stripe = new Stripe('sk_test_unused')
  const header = (payload: string | Buffer = body, timestamp = NOW, s = secret) => ({
    'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: payload.toString(), secret: s, timestamp }),
  })

  it('accepts a signature made by the stripe library', () => {
    expect(verify({ scheme: 'stripe', secrets: [secret], headers: header(), body })).toEqual({ ok: true })
  })

  it('makes signatures the stripe library accepts', () => {
    const headers = sign.stripe(secret, body)
    expect(() => stripe.webhooks.constructEvent(body, headers['stripe-signature'], secret)).not.toThrow()
  })

  it('rejects a tampered body and a wrong secret', () => {
    const tampered = Buffer.from(body.toString().replace('evt_1', 'evt_2'))
    expect(verify({ scheme: 'stripe', secrets: [secret], headers: header(), body: tampered })).toEqual({
      ok: false,
      reason: 'mismatch',
    })
    expect(verify({ scheme: 'stripe', secrets: ['whsec_other'], headers: header(), body }).ok).toBe(false)
  })

  it('accepts any of several secrets (rotation), and several v1 entries', () => {
    const secrets = ['whsec_old_secret_000', secret]
    expect(verify({ scheme: 'stripe', secrets, headers: header(), body }).ok).toBe(true)
    const both = `t=${NOW},v1=${'0'.repeat(64)},v1=${header()['stripe-signature'].split('v1=')[1]}`
    expect(verify({ scheme: 'stripe', secrets: [secret], headers: { 'stripe-signature': both }, body }).ok).toBe(true)
  })

  it('rejects stale and future timestamps beyond the tolerance, accepts them within', () => {
    const at = (t: number) => verify({ scheme: 'stripe', secrets: [secret], headers: header(body, t), body })
    expect(at(NOW - 301)).toEqual({ ok: false, reason: 'stale_timestamp' })
    expect(at(NOW + 301)).toEqual({ ok: false, reason: 'future_timestamp' })
    expect(at(NOW - 299).ok).toBe(true)
    expect(at(NOW + 299).ok).toBe(true)
  })

  it('rejects missing and malformed headers', () => {
    expect(verify({ scheme: 'stripe', secrets: [secret], headers: {}, body })).toEqual({
      ok: false,
      reason: 'missing_headers',
    })
    const headers = { 'stripe-signature': `t=${NOW}` }
    expect(verify({ scheme: 'stripe', secrets: [secret], headers, body })).toEqual({
      ok: false,
      reason: 'malformed_header',
    })
  })
})

describe('standard (Standard Webhooks)', () => {
  // The test vector of the Standard Webhooks reference libraries.
  const vector = {
    secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    timestamp: 1614265330,
    body: Buffer.from('{"test": 2432232314}'),
    signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
  }
  const vectorHeaders = {
    'webhook-id': vector.id,
    'webhook-timestamp': String(vector.timestamp),
    'webhook-signature': vector.signature,
  }

  it('verifies the published test vector', () => {
    const result = verifySignature({
      scheme: 'standard',
      secrets: [vector.secret],
      toleranceSeconds: 300,
      now: vector.timestamp,
      headers: vectorHeaders,
      body: vector.body,
    })
    expect(result).toEqual({ ok: true })
    expect(sign.standard(vector.secret, vector.id, vector.body, vector.timestamp)['webhook-signature']).toBe(
      vector.signature,
    )
  })

  it('accepts signatures made by the standardwebhooks library, and makes ones it accepts', () => {
    const wh = new Webhook(vector.secret)
    const signature = wh.sign('msg_1', new Date(NOW * 1000), body.toString())
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(NOW), 'webhook-signature': signature }
    expect(verify({ scheme: 'standard', secrets: [vector.secret], headers, body }).ok).toBe(true)
    const ours = sign.standard(vector.secret, 'msg_2', body)
    expect(() => wh.verify(body.toString(), ours)).not.toThrow()
  })

  it('rejects a tampered body, a wrong secret, a tampered id; accepts rotated secrets and multiple entries', () => {
    const headers = sign.standard(vector.secret, 'msg_1', body, NOW)
    const other = 'whsec_QTUVpe7WndA3suvwsOlO/47Ahaz1iBJg'
    expect(verify({ scheme: 'standard', secrets: [vector.secret], headers, body: Buffer.from('{}') }).ok).toBe(false)
    expect(verify({ scheme: 'standard', secrets: [other], headers, body }).ok).toBe(false)
    expect(
      verify({ scheme: 'standard', secrets: [vector.secret], headers: { ...headers, 'webhook-id': 'msg_9' }, body }).ok,
    ).toBe(false)
    expect(verify({ scheme: 'standard', secrets: [other, vector.secret], headers, body }).ok).toBe(true)
    const multiple = { ...headers, 'webhook-signature': `v1,bm90IGl0 ${headers['webhook-signature']}` }
    expect(verify({ scheme: 'standard', secrets: [vector.secret], headers: multiple, body }).ok).toBe(true)
  })

  it('rejects stale and future timestamps, and missing headers', () => {
    const at = (t: number) =>
      verify({
        scheme: 'standard',
        secrets: [vector.secret],
        headers: sign.standard(vector.secret, 'm', body, t),
        body,
      })
    expect(at(NOW - 301)).toEqual({ ok: false, reason: 'stale_timestamp' })
    expect(at(NOW + 301)).toEqual({ ok: false, reason: 'future_timestamp' })
    const { 'webhook-id': _, ...noId } = sign.standard(vector.secret, 'm', body, NOW)
    expect(verify({ scheme: 'standard', secrets: [vector.secret], headers: noId, body })).toEqual({
      ok: false,
      reason: 'missing_headers',
    })
  })
})

describe('github', () => {
  // The example of GitHub's "Validating webhook deliveries" documentation.
  const secret = "It's a Secret to Everybody"
  const docs = {
    body: Buffer.from('Hello, World!'),
    signature: 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
  }

  it('verifies the documented example', () => {
    const headers = { 'x-hub-signature-256': docs.signature, 'x-github-delivery': 'd-1' }
    expect(verify({ scheme: 'github', secrets: [secret], headers, body: docs.body })).toEqual({ ok: true })
    expect(sign.github(secret, 'd-1', docs.body)['x-hub-signature-256']).toBe(docs.signature)
  })

  it('rejects a tampered body, a wrong secret and missing headers; accepts rotated secrets', () => {
    const headers = { 'x-hub-signature-256': docs.signature, 'x-github-delivery': 'd-1' }
    expect(verify({ scheme: 'github', secrets: [secret], headers, body: Buffer.from('Hello, World?') }).ok).toBe(false)
    expect(verify({ scheme: 'github', secrets: ['nope-nope'], headers, body: docs.body }).ok).toBe(false)
    expect(verify({ scheme: 'github', secrets: ['nope-nope', secret], headers, body: docs.body }).ok).toBe(true)
    expect(verify({ scheme: 'github', secrets: [secret], headers: {}, body: docs.body })).toEqual({
      ok: false,
      reason: 'missing_headers',
    })
  })
})
