/**
 * Demo data for a local run: signed webhooks sent to a running ingest, which stores them and hands them to the
 * processor, so the status API, the processor's orders and the event log in ClickHouse have something to show.
 *
 *   npm run seed:webhooks [-- --count 200 --rate 50 --url http://127.0.0.1:3001 --sources infra/webhook-sources.json]
 *   (env: SEED_COUNT, SEED_RATE, INGEST_URL, WEBHOOK_SOURCES_FILE; flags win)
 *
 * Every source of the sources file (the one ingest reads, default infra/webhook-sources.json) gets its share, signed
 * with its first secret by the signing code ingest's tests use (services/ingest/src/signatures.ts):
 *  - stripe sources: one order per charge.succeeded, every 4th order also refunded in part, every 10th disputed
 *    (docs/webhooks.md#payment-events; the processor derives each order's status from them);
 *  - standard sources: order.created / order.shipped / order.delivered envelopes; every 20th asks the processor to
 *    fail its first attempt (`simulate.failAttempts`), so a retry shows in the status API;
 *  - github sources: push deliveries.
 * Every run sends new event ids, so running it again adds more. 429 and 503 answers are retried after their
 * Retry-After; any other refusal counts as failed and the run exits 1.
 */
import { randomUUID } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { sign } from '../../services/ingest/src/signatures.js'
import { DEFAULT_SOURCES_FILE, loadSources, type SourceConfig } from '../../services/ingest/src/sources.js'

export interface SeedOptions {
  /** Ingest's base URL, e.g. http://127.0.0.1:3001. */
  url: string
  /** Webhooks to send, spread over the sources round-robin. */
  count: number
  /** Webhooks per second; 0: as fast as CONCURRENCY requests in flight allow. */
  rate: number
  sourcesFile?: string
  /** Called after every answer. */
  onProgress?: (progress: SeedProgress) => void
}

export interface SeedProgress {
  sent: number
  accepted: number
  duplicates: number
  failed: number
  count: number
  elapsedMs: number
}

export interface SeedResult extends SeedProgress {
  /** Accepted events per source name. */
  bySource: Record<string, number>
  /** The first refusal, e.g. `payment: 401 ... The signature does not match the body.` */
  firstFailure?: string
}

/** A problem the user can act on (ingest not running, bad option); the CLI prints its message alone. */
export class SeedError extends Error {}

/** Requests in flight at most: enough to reach the default rate over a slow local machine, far below ingest's limit. */
const CONCURRENCY = 16
const MAX_RETRIES = 5
const REQUEST_TIMEOUT_MS = 10_000

interface Webhook {
  source: SourceConfig
  /** Signs at send time, so a retried or paced request carries a fresh timestamp. */
  headers(): Record<string, string>
  body: string
}

const short = () => randomUUID().replaceAll('-', '').slice(0, 12)
const CURRENCIES = ['eur', 'usd', 'gbp']

/** Stripe-shaped payment events of demo orders: a charge, then for some orders a refund or a dispute. */
function* stripeEvents(): Generator<unknown> {
  for (let n = 0; ; n++) {
    const order = `ord_demo_${short()}`
    const charge = `ch_${short()}`
    const amount = 500 + ((n * 739) % 9500)
    const currency = CURRENCIES[n % CURRENCIES.length] as string
    const event = (type: string, object: Record<string, unknown>) => ({
      id: `evt_${randomUUID()}`,
      type,
      created: Math.floor(Date.now() / 1000),
      data: { object: { amount, currency, metadata: { order_id: order }, ...object } },
    })
    yield event('charge.succeeded', { id: charge })
    if (n % 4 === 3) yield event('refund.created', { id: `re_${short()}`, charge, amount: Math.floor(amount / 2) })
    if (n % 10 === 9) yield event('dispute.opened', { id: `dp_${short()}`, charge, reason: 'fraudulent' })
  }
}

/** Standard Webhooks envelopes (`orders`): the processor simulates work on them (PROCESSING_DELAY_MS). */
function* envelopeEvents(): Generator<unknown> {
  const types = ['order.created', 'order.shipped', 'order.delivered']
  for (let n = 0; ; n++) {
    const payload: Record<string, unknown> = { order_id: `ord_demo_${short()}`, items: 1 + (n % 3) }
    if (n % 20 === 19) payload.simulate = { failAttempts: 1 }
    yield { idempotency_key: `demo_${randomUUID()}`, event_type: types[n % types.length], payload }
  }
}

function* githubEvents(): Generator<unknown> {
  while (true) yield { ref: 'refs/heads/main', after: short(), repository: { full_name: 'demo/event-platform' } }
}

function* webhooksOf(source: SourceConfig): Generator<Webhook> {
  const secret = source.secrets[0] as string
  const bodies =
    source.scheme === 'stripe' ? stripeEvents() : source.scheme === 'standard' ? envelopeEvents() : githubEvents()
  for (const event of bodies) {
    const body = JSON.stringify(event)
    // GitHub's dedupe key is the delivery header, so a retry must repeat it; the others' keys are in the body.
    const delivery = randomUUID()
    const headers = () =>
      source.scheme === 'stripe'
        ? sign.stripe(secret, body)
        : source.scheme === 'standard'
          ? sign.standard(secret, `msg_${randomUUID()}`, body)
          : sign.github(secret, delivery, body)
    yield { source, body, headers }
  }
}

/** Round-robin over the sources, `count` in all. */
function* demoWebhooks(sources: SourceConfig[], count: number): Generator<Webhook> {
  const streams = sources.map(webhooksOf)
  for (let i = 0; i < count; i++) yield streams[i % streams.length]?.next().value as Webhook
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** `ECONNREFUSED` and friends, from fetch's TypeError("fetch failed") and its cause. */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  return cause?.code ?? cause?.message ?? (error as Error).message
}

function notRunning(url: string, error: unknown): SeedError {
  return new SeedError(
    `ingest does not answer at ${url} (${networkReason(error)}). Start the services with \`npm start\` (ingest ` +
      'listens on 3001), or point --url / INGEST_URL at a running ingest.',
  )
}

/** Fails with a SeedError unless ingest answers its readiness probe. */
async function checkReady(url: string): Promise<void> {
  let res: Response
  try {
    res = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  } catch (error) {
    throw notRunning(url, error)
  }
  if (!res.ok) {
    const detail = ((await res.json().catch(() => ({}))) as { detail?: string }).detail ?? ''
    throw new SeedError(`ingest at ${url} is not ready (${res.status}) ${detail}`.trim())
  }
}

/** Sends the demo webhooks; resolves with the counts, rejects with a SeedError when ingest is not there. */
export async function seedWebhooks(options: SeedOptions): Promise<SeedResult> {
  const { count, rate } = options
  if (!Number.isInteger(count) || count < 1) throw new SeedError(`count must be a positive integer, not ${count}`)
  if (!Number.isFinite(rate) || rate < 0) throw new SeedError(`rate must be a number ≥ 0 (0: no limit), not ${rate}`)
  const url = options.url.replace(/\/+$/, '')
  let sources: SourceConfig[]
  try {
    sources = [...loadSources(options.sourcesFile ?? DEFAULT_SOURCES_FILE).values()]
  } catch (error) {
    // A ConfigError names the file, the JSON pointer and the problem, never a secret (sources.ts).
    throw new SeedError((error as Error).message)
  }
  await checkReady(url)

  const started = performance.now()
  const result: SeedResult = { sent: 0, accepted: 0, duplicates: 0, failed: 0, count, elapsedMs: 0, bySource: {} }
  const report = () => {
    result.elapsedMs = performance.now() - started
    options.onProgress?.({ ...result })
  }
  let fatal: SeedError | undefined

  async function send(webhook: Webhook): Promise<void> {
    const name = webhook.source.name
    for (let attempt = 0; ; attempt++) {
      let res: Response
      try {
        res = await fetch(`${url}/v1/webhooks/${encodeURIComponent(name)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...webhook.headers() },
          body: webhook.body,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        })
      } catch (error) {
        fatal ??= notRunning(url, error)
        return
      }
      if ((res.status === 429 || res.status === 503) && attempt < MAX_RETRIES) {
        await res.body?.cancel()
        await sleep(Math.min(Number(res.headers.get('retry-after')) || 1, 10) * 1000)
        continue
      }
      if (res.ok) {
        await res.body?.cancel()
        if (res.headers.get('idempotent-replayed') === 'true') result.duplicates++
        else result.accepted++
        result.bySource[name] = (result.bySource[name] ?? 0) + 1
      } else {
        const problem = (await res.json().catch(() => ({}))) as { detail?: string; type?: string }
        result.failed++
        result.firstFailure ??= `${name}: ${res.status} ${problem.type ?? ''} ${problem.detail ?? ''}`.trim()
      }
      report()
      return
    }
  }

  const inFlight = new Set<Promise<void>>()
  let i = 0
  for (const webhook of demoWebhooks(sources, count)) {
    const wait = rate > 0 ? started + (i * 1000) / rate - performance.now() : 0
    if (wait > 0) await sleep(wait)
    while (inFlight.size >= CONCURRENCY) await Promise.race(inFlight)
    if (fatal) break
    const request: Promise<void> = send(webhook).finally(() => inFlight.delete(request))
    inFlight.add(request)
    result.sent = ++i
  }
  await Promise.all(inFlight)
  if (fatal) throw fatal
  result.elapsedMs = performance.now() - started
  return result
}

const progressLine = (p: SeedProgress) =>
  `[seed] ${p.sent}/${p.count} sent, ${p.accepted} accepted, ${p.duplicates} duplicate, ${p.failed} failed ` +
  `(${Math.round(((p.accepted + p.duplicates + p.failed) * 1000) / Math.max(p.elapsedMs, 1))}/s)`

function numberOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback
  const n = Number(value)
  if (!Number.isFinite(n)) throw new SeedError(`${name} must be a number, not "${value}"`)
  return n
}

const parseOptions = (args: string[]) =>
  parseArgs({
    args,
    options: {
      count: { type: 'string', short: 'n' },
      rate: { type: 'string', short: 'r' },
      url: { type: 'string' },
      sources: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })

async function main(): Promise<number> {
  // pnpm passes the `--` of `pnpm run seed -- --count 5` on (npm drops it).
  const args = process.argv.slice(2)
  if (args[0] === '--') args.shift()
  let values: ReturnType<typeof parseOptions>['values']
  try {
    values = parseOptions(args).values
  } catch (error) {
    throw new SeedError(`${(error as Error).message} (--help lists the options)`)
  }
  if (values.help) {
    console.log(
      'npm run seed -- [--count N (200)] [--rate per second (50; 0: no limit)] [--url http://127.0.0.1:3001]\n' +
        '                [--sources infra/webhook-sources.json]   env: SEED_COUNT, SEED_RATE, INGEST_URL, WEBHOOK_SOURCES_FILE',
    )
    return 0
  }
  const url = values.url ?? process.env.INGEST_URL ?? 'http://127.0.0.1:3001'
  const options: SeedOptions = {
    url,
    count: numberOption(values.count ?? process.env.SEED_COUNT, 'count', 200),
    rate: numberOption(values.rate ?? process.env.SEED_RATE, 'rate', 50),
    sourcesFile: values.sources ?? (process.env.WEBHOOK_SOURCES_FILE || undefined),
  }
  // On a terminal one line is rewritten (at most 10 times a second); in a log, a line per tenth of the run.
  const tty = process.stdout.isTTY === true
  let shown = 0
  let step = 0
  options.onProgress = (p) => {
    const now = performance.now()
    const done = p.accepted + p.duplicates + p.failed
    if (tty && now - shown >= 100) {
      process.stdout.write(`\r${progressLine(p)}`)
      shown = now
    } else if (!tty && done >= ((step + 1) * p.count) / 10) {
      console.log(progressLine(p))
      step = Math.floor((done * 10) / p.count)
    }
  }
  console.log(`[seed] sending ${options.count} signed webhooks to ${url} at ${options.rate || 'unlimited'}/s`)
  const result = await seedWebhooks(options)
  if (tty) process.stdout.write(`\r${progressLine(result)}\n`)
  const perSource = Object.entries(result.bySource).map(([name, n]) => `${name} ${n}`)
  console.log(`[seed] done in ${(result.elapsedMs / 1000).toFixed(1)} s: ${perSource.join(', ') || 'nothing accepted'}`)
  if (result.firstFailure) console.error(`[seed] first refusal: ${result.firstFailure}`)
  const [first] = Object.keys(result.bySource)
  if (first) {
    // The token itself stays out of the output (tokens never reach a log line): it is in the sources file.
    const file = options.sourcesFile ?? 'infra/webhook-sources.json'
    console.log(
      `[seed] status API: curl -H "Authorization: Bearer <${first}'s readToken in ${file}>" '${url}/v1/webhooks/${first}?limit=5'`,
    )
  }
  return result.failed > 0 ? 1 : 0
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => {
      process.exitCode = code
    },
    (error: unknown) => {
      if (process.stdout.isTTY) process.stdout.write('\n')
      console.error(`[seed] ${error instanceof SeedError ? error.message : ((error as Error).stack ?? error)}`)
      process.exitCode = 1
    },
  )
}
