import { mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ActivityRecordedV1 } from '@platform/contracts'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ActiveUserEstimates, ActiveUsers, Cohort, DayUsers, Retention } from '../src/queries/answers.js'
import { type AnalyticsHarness, addDays, dayFromToday, event, startAnalytics } from './harness.js'

/**
 * The dashboard in a real browser: Debian's chromium (/usr/bin/chromium) driven by playwright-core, on data seeded
 * through POST /v1/events. The chart and the heat map must show the API's numbers, the page must load nothing from
 * another origin and break no rule of its Content-Security-Policy. The screenshot goes to a temporary folder, or to
 * docs/analytics-dashboard.png with UPDATE_SCREENSHOT=1 (the one docs/analytics.md shows).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const TO = dayFromToday(-1)
const FROM = addDays(TO, -29)
const SCREENSHOT =
  process.env.UPDATE_SCREENSHOT === '1'
    ? fileURLToPath(new URL('../../../docs/analytics-dashboard.png', import.meta.url))
    : join(tmpdir(), 'analytics-dashboard.png')

/**
 * 30 days of a product people use more on weekdays and that grows a little: 1,500 users, each with a habit (how
 * likely they are to come on a given day), so some return daily and some once.
 */
function seed(): ActivityRecordedV1[] {
  let state = 42
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state / 2 ** 31
  }
  const events: ActivityRecordedV1[] = []
  for (let d = 0; d < 30; d++) {
    const day = addDays(FROM, d)
    const weekday = new Date(`${day}T00:00:00Z`).getUTCDay()
    const weekend = weekday === 0 || weekday === 6 ? 0.55 : 1
    for (let u = 0; u < 1500; u++) {
      const habit = u < 300 ? 0.8 : u < 900 ? 0.3 : 0.06
      if (random() < habit * weekend * (0.85 + d / 200)) {
        const at = Date.parse(`${day}T00:00:00Z`) + Math.floor(random() * 86_400_000)
        events.push(event(`user-${u}`, new Date(at).toISOString(), { kind: random() < 0.3 ? 'post.created' : 'login' }))
      }
    }
  }
  return events
}

/** The page's globals, as far as the callbacks run in the browser read them (the project compiles without the DOM lib). */
interface Canvas {
  width: number
  height: number
  getContext(
    kind: '2d',
  ): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null
}
declare const window: { analyticsDashboard: { chart: { data: number[][] }; range?: { from: string } } }
declare const document: { querySelector(selector: string): Canvas }

let h: AnalyticsHarness
let browser: Browser
let url: string

beforeAll(async () => {
  h = await startAnalytics()
  const events = seed()
  for (let i = 0; i < events.length; i += 5000) expect((await h.post(events.slice(i, i + 5000))).statusCode).toBe(200)
  url = await h.app.listen({ port: 0, host: '127.0.0.1' })
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
}, 120_000)
afterAll(async () => {
  await browser?.close()
  await h?.close()
})

describe('the dashboard in chromium', () => {
  it('draws the API numbers: DAU in the chart, the cohorts in the heat map, the last day in the tiles', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    const requests: string[] = []
    const problems: string[] = []
    page.on('request', (r) => requests.push(r.url()))
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text())
    })
    page.on('pageerror', (e) => problems.push(e.message))

    await page.goto(`${url}/?from=${FROM}&to=${TO}`)
    await page.waitForSelector('body[data-state="ready"]', { timeout: 20_000 })

    const dau = await h.get<DayUsers[]>(`/v1/analytics/dau?from=${FROM}&to=${TO}`)
    const cohorts = await h.get<Cohort[]>(`/v1/analytics/retention/cohorts?from=${FROM}&to=${TO}`)
    const retention = await h.get<Retention>(`/v1/analytics/retention?day=${TO}`)
    expect(dau.some((d) => d.users > 300)).toBe(true)

    // The chart's series are the API's: x the UTC midnights, y the users.
    const chart = await page.evaluate(() => {
      const { chart } = window.analyticsDashboard
      const canvas = document.querySelector('#dau-chart canvas')
      const pixels = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? []
      let painted = 0
      for (let i = 3; i < pixels.length; i += 4) if ((pixels[i] ?? 0) > 0) painted++
      return { data: chart.data, painted, width: canvas.width }
    })
    expect(chart.data[0]).toEqual(dau.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000))
    expect(chart.data[1]).toEqual(dau.map((d) => d.users))
    expect(chart.width).toBeGreaterThan(500)
    expect(chart.painted).toBeGreaterThan(1000)

    // The numbers table under the chart, as the API answered.
    const table = await page.$$eval('#dau-table tbody tr', (rows) =>
      rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)),
    )
    expect(table).toEqual(dau.map((d) => [d.day, d.users.toLocaleString('en-US')]))

    // The heat map: the dashboard shows the range's last 30 days, each share as a percentage with one decimal.
    const cells = await page.$$eval('#cohorts tbody tr', (rows) =>
      rows.map((r) => ({
        day: (r as unknown as { dataset: { day: string } }).dataset.day,
        cells: [...r.querySelectorAll('td')].map((td) => td.textContent),
      })),
    )
    expect(cells).toEqual(
      cohorts.map((c) => ({
        day: c.day,
        cells: [
          c.day,
          c.users.toLocaleString('en-US'),
          ...c.retained.map((r) => (r.share === null ? '·' : `${(r.share * 100).toFixed(1)}%`)),
        ],
      })),
    )
    expect(cells.some((c) => c.cells.some((text) => text?.endsWith('%')))).toBe(true)

    expect(await page.textContent('#tile-active')).toBe(retention.active.toLocaleString('en-US'))
    expect(await page.textContent('#tile-returning')).toBe(retention.returning.toLocaleString('en-US'))

    // Weekly and monthly active users: exact in the tiles, estimated from the sketches in the second chart.
    const week = await h.get<ActiveUsers>(`/v1/analytics/active-users?day=${TO}&window=7`)
    const month = await h.get<ActiveUsers>(`/v1/analytics/active-users?day=${TO}&window=30`)
    expect(await page.textContent('#tile-wau')).toBe(week.users.toLocaleString('en-US'))
    expect(await page.textContent('#tile-mau')).toBe(month.users.toLocaleString('en-US'))
    expect(month.users).toBeGreaterThan(week.users)
    const estimates = async (window: number) =>
      (await h.get<ActiveUserEstimates>(`/v1/analytics/active-users/estimates?from=${FROM}&to=${TO}&window=${window}`))
        .days
    const [weekly, monthly] = [await estimates(7), await estimates(30)]
    const active = await page.evaluate(() => {
      const { activeChart } = window.analyticsDashboard as unknown as { activeChart: { data: number[][] } }
      const canvas = document.querySelector('#active-chart canvas')
      return { data: activeChart.data, width: canvas.width }
    })
    expect(active.data).toEqual([
      weekly.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000),
      weekly.map((d) => d.users),
      monthly.map((d) => d.users),
    ])
    expect(active.width).toBeGreaterThan(500)
    expect(await page.textContent('#active-error')).toBe('1.3%')

    expect(requests.filter((r) => !r.startsWith(url))).toEqual([])
    expect(problems).toEqual([])
    mkdirSync(join(SCREENSHOT, '..'), { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    await page.close()
  }, 60_000)

  it('redraws for another range picked in the form', async () => {
    const page = await browser.newPage()
    await page.goto(`${url}/?from=${FROM}&to=${TO}`)
    await page.waitForSelector('body[data-state="ready"]')
    const from = addDays(TO, -6)
    await page.fill('#from', from)
    await page.click('button[type="submit"]')
    await page.waitForFunction(
      (f) =>
        (window as unknown as { analyticsDashboard: { range?: { from: string } } }).analyticsDashboard.range?.from ===
        f,
      from,
    )
    const xs = await page.evaluate(
      () =>
        (window as unknown as { analyticsDashboard: { chart: { data: number[][] } } }).analyticsDashboard.chart.data[0],
    )
    expect(xs).toHaveLength(7)
    expect(page.url()).toContain(`from=${from}`)
    await page.close()
  }, 60_000)

  it('asks for the read token where one is set, and draws with it', async () => {
    const token = 'dashboard-read-token-0123456789'
    const guarded = await startAnalytics({ ANALYTICS_READ_TOKEN: token })
    try {
      expect((await guarded.post(seed().slice(0, 500))).statusCode).toBe(200)
      const at = await guarded.app.listen({ port: 0, host: '127.0.0.1' })
      const page = await browser.newPage()
      await page.goto(`${at}/?from=${FROM}&to=${TO}`)
      await page.waitForSelector('body[data-state="token"]', { timeout: 20_000 })
      expect(await page.isVisible('#token-form')).toBe(true)
      // A wrong token is refused and asked for again.
      await page.fill('#token', 'not-the-token-0123456789')
      await page.click('#token-form button[type="submit"]')
      await page.waitForSelector('body[data-state="token"]')
      await page.fill('#token', token)
      await page.click('#token-form button[type="submit"]')
      await page.waitForSelector('body[data-state="ready"]', { timeout: 20_000 })
      expect(await page.isVisible('#token-form')).toBe(false)
      const res = await guarded.app.inject({
        method: 'GET',
        url: `/v1/analytics/dau?from=${FROM}&to=${TO}`,
        headers: { authorization: `Bearer ${token}` },
      })
      const dau = res.json() as DayUsers[]
      const users = await page.evaluate(
        () =>
          (window as unknown as { analyticsDashboard: { chart: { data: number[][] } } }).analyticsDashboard.chart
            .data[1],
      )
      expect(users).toEqual(dau.map((d) => d.users))
      expect(dau.some((d) => d.users > 0)).toBe(true)
      await page.close()
    } finally {
      await guarded.close()
    }
  }, 90_000)
})
