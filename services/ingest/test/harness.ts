import { randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ingestStatusConsumer } from '@platform/contracts'
import type { ServiceApp } from '@platform/http'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { rabbitAdmin, waitFor } from '@platform/testing'
import { buildApp } from '../src/app.js'
import { loadServiceConfig } from '../src/config.js'
import { sign } from '../src/signatures.js'

/** Sources of the tests: two secrets each where rotation is tested, a tight rate limit on `limited`. */
export const SECRETS = {
  payment: ['whsec_test_payment_old_0123456789', 'whsec_test_payment_new_9876543210'],
  orders: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_QTUVpe7WndA3suvwsOlO/47Ahaz1iBJg'],
  gh: ['github-secret-0123456789'],
  limited: ['whsec_test_limited_0123456789'],
}
export const TOKENS = {
  payment: 'test-payment-read-token-000000',
  orders: 'test-orders-read-token-0000000',
  gh: 'test-gh-read-token-00000000000',
  limited: 'test-limited-read-token-000000',
}

export function writeSourcesFile(): string {
  const file = join(tmpdir(), `webhook-sources-${randomUUID()}.json`)
  const sources = [
    { name: 'payment', scheme: 'stripe', secrets: SECRETS.payment, readToken: TOKENS.payment },
    { name: 'orders', scheme: 'standard', secrets: SECRETS.orders, readToken: TOKENS.orders },
    { name: 'gh', scheme: 'github', secrets: SECRETS.gh, readToken: TOKENS.gh },
    {
      name: 'limited',
      scheme: 'stripe',
      secrets: SECRETS.limited,
      readToken: TOKENS.limited,
      rateLimit: { max: 3, timeWindowMs: 60_000 },
    },
  ].map((s) => ({ toleranceSeconds: 300, rateLimit: { max: 100_000, timeWindowMs: 1000 }, ...s }))
  writeFileSync(file, JSON.stringify({ sources }))
  return file
}

export interface IngestHarness {
  app: ServiceApp
  env: ServiceTestEnv
  close(): Promise<void>
}

/** The ingest app as `buildApp` makes it, in this process, in a schema, vhost and Redis prefix of its own. */
export async function startIngest(overrides: Record<string, string> = {}): Promise<IngestHarness> {
  const env = await createServiceTestEnv('ingest', {
    WEBHOOK_SOURCES_FILE: writeSourcesFile(),
    LOG_LEVEL: 'silent',
    ...overrides,
  })
  const app = await buildApp(loadServiceConfig(env.env), { retentionJob: false })
  await app.ready()
  // The status consumer declares its queue once connected; a status published before that would be dropped.
  await waitFor(async () => {
    const path = `/queues/${encodeURIComponent(env.vhost.vhost)}/${encodeURIComponent(ingestStatusConsumer.queue)}/bindings`
    return (await rabbitAdmin().call<{ source: string }[]>('GET', path)).some((b) => b.source === 'webhook-status')
  })
  return {
    app,
    env,
    async close() {
      await app.close()
      await env.cleanup()
    },
  }
}

/** A Stripe-shaped payment event. */
export function paymentEvent(
  type: 'charge.succeeded' | 'refund.created' | 'dispute.opened',
  fields: { id?: string; objectId?: string; orderId?: string; amount?: number; charge?: string } = {},
) {
  const prefix = type === 'charge.succeeded' ? 'ch_' : type === 'refund.created' ? 're_' : 'dp_'
  const object: Record<string, unknown> = {
    id: fields.objectId ?? `${prefix}${randomUUID().slice(0, 8)}`,
    amount: fields.amount ?? 1000,
    currency: 'eur',
    metadata: { order_id: fields.orderId ?? `ord_${randomUUID().slice(0, 8)}` },
  }
  if (type !== 'charge.succeeded') object.charge = fields.charge ?? 'ch_unknown'
  return { id: fields.id ?? `evt_${randomUUID()}`, type, created: 1_700_000_000, data: { object } }
}

/** POST options for app.inject: a signed body for the given source. */
export function signedPost(
  source: keyof typeof SECRETS,
  body: unknown,
  options: { secret?: string; timestamp?: number } = {},
) {
  const payload = typeof body === 'string' ? body : JSON.stringify(body)
  const secret = options.secret ?? (SECRETS[source][0] as string)
  const headers =
    source === 'orders'
      ? sign.standard(secret, `msg_${randomUUID()}`, payload, options.timestamp)
      : source === 'gh'
        ? sign.github(secret, randomUUID(), payload)
        : sign.stripe(secret, payload, options.timestamp)
  return {
    method: 'POST' as const,
    url: `/v1/webhooks/${source}`,
    headers: { 'content-type': 'application/json', ...headers },
    payload,
  }
}
