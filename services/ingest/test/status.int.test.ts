import { randomUUID } from 'node:crypto'
import { type WebhookStatusV1, webhookStatusChanged } from '@platform/contracts'
import { expectProblem } from '@platform/http/testing'
import { type Broker, connectBroker, createPublisher, type Publisher } from '@platform/messaging'
import { waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type IngestHarness, paymentEvent, signedPost, startIngest, TOKENS } from './harness.js'

/**
 * The status API and the status messages behind it: the processor's reports arrive in any order and with repeats;
 * a status is applied only when its version is higher, so `completed` is never overwritten by a late `processing`.
 */
let h: IngestHarness
let broker: Broker
let publisher: Publisher

beforeAll(async () => {
  h = await startIngest()
  broker = connectBroker({ url: h.env.vhost.amqpUrl, name: 'test-processor' })
  publisher = createPublisher(broker, { exchanges: [webhookStatusChanged.exchange] })
})
afterAll(async () => {
  await publisher?.close()
  await broker?.close()
  await h?.close()
})

const auth = { authorization: `Bearer ${TOKENS.payment}` }
const status = async (url: string) => (await h.app.inject({ method: 'GET', url, headers: auth })).json()

async function accept() {
  const res = await h.app.inject(signedPost('payment', paymentEvent('charge.succeeded')))
  return res.json() as { id: string; event_id: string; status_url: string }
}

async function report(
  event: { id: string; event_id: string },
  receivedAt: string,
  fields: Pick<WebhookStatusV1, 'status' | 'version' | 'attempts'> & { lastError?: string },
) {
  const body: WebhookStatusV1 = {
    id: event.id,
    source: 'payment',
    eventId: event.event_id,
    receivedAt,
    lastError: fields.lastError ?? null,
    occurredAt: new Date().toISOString(),
    ...fields,
  }
  await publisher.publishMessage(webhookStatusChanged, body, { messageId: randomUUID() })
}

describe('status API', () => {
  it('answers with the event and its status to the bearer of the read token only', async () => {
    const event = await accept()
    const ok = await h.app.inject({ method: 'GET', url: event.status_url, headers: auth })
    expect(ok.statusCode).toBe(200)
    expect(ok.json()).toMatchObject({
      source: 'payment',
      event_id: event.event_id,
      event_type: 'charge.succeeded',
      status: 'queued',
      attempts: 0,
      last_error: null,
    })
    expectProblem(await h.app.inject({ method: 'GET', url: event.status_url }), 401)
    const wrong = { authorization: `Bearer ${TOKENS.orders}` }
    const denied = await h.app.inject({ method: 'GET', url: event.status_url, headers: wrong })
    expectProblem(denied, 401)
    expect(denied.headers['www-authenticate']).toMatch(/^Bearer/)
    expectProblem(await h.app.inject({ method: 'GET', url: '/v1/webhooks/payment/evt_nope', headers: auth }), 404)
    expectProblem(await h.app.inject({ method: 'GET', url: '/v1/webhooks/nope/evt_1', headers: auth }), 404)
    expectProblem(await h.app.inject({ method: 'GET', url: '/v1/webhooks/payment?status=lost', headers: auth }), 400)
    expectProblem(await h.app.inject({ method: 'GET', url: '/v1/webhooks/payment?cursor=xyz', headers: auth }), 400)
  })

  it('never lets a late or repeated status overwrite a newer one; a replay moves it on', async () => {
    const event = await accept()
    const { received_at: receivedAt } = await status(event.status_url)
    await report(event, receivedAt, { status: 'completed', version: 7, attempts: 1 })
    await waitFor(async () => (await status(event.status_url)).status === 'completed')
    // The `processing` of the same attempt arrives late, and a copy of `completed` again.
    await report(event, receivedAt, { status: 'processing', version: 5, attempts: 1 })
    await report(event, receivedAt, { status: 'completed', version: 7, attempts: 1 })
    // A marker on another event tells when the ones before it have been consumed.
    const marker = await accept()
    const markerAt = (await status(marker.status_url)).received_at
    await report(marker, markerAt, { status: 'processing', version: 5, attempts: 1 })
    await waitFor(async () => (await status(marker.status_url)).status === 'processing')
    expect(await status(event.status_url)).toMatchObject({ status: 'completed', attempts: 1 })

    await report(event, receivedAt, { status: 'dead', version: 4015, attempts: 1, lastError: 'boom' })
    await waitFor(async () => (await status(event.status_url)).status === 'dead')
    expect(await status(event.status_url)).toMatchObject({ last_error: 'boom' })
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body
    expect(metrics).toMatch(/webhook_status_updates_total\{[^}]*outcome="stale"[^}]*\} [1-9]/)
  })

  it('lists each status exactly: common ones walk the newest events, rare ones read their partial index', async () => {
    const events = await Promise.all(Array.from({ length: 5 }, () => accept()))
    const statuses = ['queued', 'processing', 'completed', 'failed', 'dead'] as const
    for (const [i, wanted] of statuses.entries()) {
      const event = events[i] as (typeof events)[number]
      if (wanted === 'queued') continue
      const { received_at: receivedAt } = await status(event.status_url)
      await report(event, receivedAt, { status: wanted, version: 10, attempts: 1 })
      await waitFor(async () => (await status(event.status_url)).status === wanted)
    }
    const ours = new Set(events.map((e) => e.id))
    for (const [i, wanted] of statuses.entries()) {
      const page = (await status(`/v1/webhooks/payment?status=${wanted}&limit=500`)) as { items: { id: string }[] }
      const listed = page.items.map((item) => item.id).filter((id) => ours.has(id))
      expect(listed, wanted).toEqual([events[i]?.id])
    }
  })
})
