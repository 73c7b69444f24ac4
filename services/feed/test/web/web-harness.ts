import { createServer } from 'node:net'
import type { ServiceApp } from '@platform/http'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { createLogger } from '@platform/logging'
import { createServiceRuntime, type ServiceRuntime } from '@platform/service'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { buildApp } from '../../src/app.js'
import { loadServiceConfig } from '../../src/config.js'
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET, type DevIdp, devClient, startDevIdp } from '../../src/dev-idp/dev-idp.js'
import { startFeedWorker } from '../../src/queues/feed-worker.js'
import { WORKER_TEST_ENV } from '../worker-harness.js'

/**
 * The feed's web client in a real browser (tests only): the feed listening on a local port with its development
 * provider only (a REAL oidc-provider, the development IdP module, started here) and no redirect allow-list of its
 * own, so the page's login relies on the development default (FEED_PUBLIC_URL/); the fan-out worker's consumers
 * on a runtime of their own, as worker.ts makes them (worker-harness.ts does the same), so posts, follows and likes
 * reach the feeds; Debian's Chromium driven by playwright-core (browser downloads are impossible here, so its
 * executablePath).
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const VIEWPORT = { width: 1000, height: 700 }

export interface WebHarness {
  app: ServiceApp
  feedUrl: string
  env: ServiceTestEnv
  idp: DevIdp
  browser: Browser
  workerRuntime: ServiceRuntime<true>
  close(): Promise<void>
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

export async function startWebHarness(overrides: Record<string, string> = {}): Promise<WebHarness> {
  const port = await freePort()
  const feedUrl = `http://127.0.0.1:${port}`
  const idp = await startDevIdp({ clients: [devClient([`${feedUrl}/v1/auth/dev/callback`])] })
  const providers = [
    {
      name: 'dev',
      label: 'DEVELOPMENT identity provider',
      kind: 'oidc',
      development: true,
      issuer: idp.issuer,
      clientId: DEV_CLIENT_ID,
      clientSecret: DEV_CLIENT_SECRET,
    },
  ]
  const env = await createServiceTestEnv('feed_web', {
    PORT: String(port),
    LOG_LEVEL: 'silent',
    FEED_PUBLIC_URL: feedUrl,
    FEED_AUTH_PROVIDERS: JSON.stringify({ providers }),
    FEED_AUTH_RATE_LIMIT_MAX: '1000',
    // A like shows in the hot feed once its ranking is recomputed: every second here, not every 30 s.
    FEED_HOT_CACHE_TTL_S: '1',
    ...WORKER_TEST_ENV,
    ...overrides,
  })
  const config = loadServiceConfig(env.env)
  let app: ServiceApp | undefined
  let workerRuntime: ServiceRuntime<true> | undefined
  let worker: { stop(): Promise<void> } | undefined
  let browser: Browser | undefined
  const stop = async () => {
    await browser?.close()
    await app?.close()
    await worker?.stop()
    await workerRuntime?.close()
    await idp.close()
    await env.cleanup()
  }
  try {
    app = await buildApp(config)
    await app.listen({ port, host: '127.0.0.1' })
    workerRuntime = await createServiceRuntime({
      service: 'feed-worker',
      config,
      migrations: new URL('../../migrations/', import.meta.url),
      redis: true,
      logger: createLogger({ service: 'feed-worker', level: 'silent' }),
    })
    await workerRuntime.outboxRelay.start()
    worker = await startFeedWorker({ runtime: workerRuntime, config })
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  } catch (error) {
    await stop()
    throw error
  }
  return { app, browser, workerRuntime, feedUrl, env, idp, close: stop }
}

export interface Person {
  context: BrowserContext
  page: Page
  /** Faults the page met: uncaught exceptions, console errors (a CSP violation is one), its own files failing. */
  problems: string[]
}

/** A new browser profile on the feed's page, its console errors and uncaught exceptions collected. */
export async function openPage(h: WebHarness, options: { fakeClock?: boolean } = {}): Promise<Person> {
  const context = await h.browser.newContext({ viewport: VIEWPORT, locale: 'en-GB', timezoneId: 'UTC' })
  // Fail with Playwright's call log well before the test's own timeout.
  context.setDefaultTimeout(10_000)
  if (options.fakeClock) await context.clock.install()
  // Hermetic: the development IdP's pages ask for a web font; nothing leaves this machine.
  await context.route(
    (url) => url.hostname !== '127.0.0.1',
    (route) => route.abort(),
  )
  const page = await context.newPage()
  const problems: string[] = []
  const onFeed = () => page.url().startsWith(h.feedUrl)
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`))
  page.on('console', (message) => {
    // A refused API call (a 4xx the page shows) is logged as a failed resource; everything else is a fault.
    if (message.type() === 'error' && onFeed() && !message.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${message.text()}`)
    }
  })
  page.on('response', (response) => {
    const url = new URL(response.url())
    const own = url.origin === h.feedUrl && (url.pathname === '/' || url.pathname.startsWith('/web/'))
    if (own && response.status() >= 400) problems.push(`${response.status()} ${url.pathname}`)
  })
  await page.goto(`${h.feedUrl}/`)
  return { context, page, problems }
}

/**
 * The whole login as a person does it: the page's login button, the development IdP's login form (any name, any
 * password) and its consent form, back on the feed's page with the tokens.
 */
export async function logIn(person: Person, login: string): Promise<void> {
  const { page } = person
  await page.getByRole('link', { name: 'Log in with DEVELOPMENT identity provider' }).click()
  await page.locator('input[name="login"]').fill(login)
  await page.locator('input[name="password"]').fill('any password')
  await page.locator('button[type="submit"]').click()
  // The consent page (oidc-provider's devInteractions) asks once per new grant.
  await page.getByRole('button', { name: 'Continue' }).click()
  await page.getByText('Signed in as').waitFor()
}
