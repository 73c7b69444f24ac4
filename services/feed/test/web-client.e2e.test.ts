import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { waitFor } from '@platform/testing'
import type { Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashRefreshToken } from '../src/auth/sessions.js'
import { logIn, openPage, type Person, startWebHarness, type WebHarness } from './web/web-harness.js'

/**
 * The web client (docs/feed.md#web-client) in a real browser, Debian's Chromium through playwright-core, against
 * the feed on a local port, the development IdP and the fan-out worker's consumers: alice and bob log in (two
 * browser profiles), bob follows alice, alice posts, bob sees the post in his feed, likes it (the count changes and
 * the hot feed shows it), unfollows her (the post leaves his feed), logs out. Everything is done through the page,
 * as a person would: its buttons, its forms, its messages.
 *
 * FEED_WEB_SCREENSHOT=docs/images/feed-web.png writes the README's screenshot (bob's page, after the like).
 */
let h: WebHarness
let alice: Person
let bob: Person

beforeAll(async () => {
  h = await startWebHarness()
}, 120_000)
afterAll(async () => {
  await h?.close()
})

const feedOf = (page: Page) => page.getByRole('list', { name: 'Your feed' })
const hotOf = (page: Page) => page.getByRole('list', { name: 'Hot' })
const postIn = (list: Locator, text: string) => list.getByRole('listitem').filter({ hasText: text })
type Stored = Record<string, string> | null
/** What the page keeps in its tab's sessionStorage (web/api.js). */
const stored = async (page: Page): Promise<Stored> =>
  JSON.parse((await page.evaluate<string | null>("sessionStorage.getItem('feed.session')")) ?? 'null')

const POLL = { timeout: 10_000, interval: 100 }
const text = (locator: Locator) => expect.poll(() => locator.textContent(), POLL)
const count = (locator: Locator) => expect.poll(() => locator.count(), POLL)
const pressed = (locator: Locator) => expect.poll(() => locator.getAttribute('aria-pressed'), POLL)

/** Eventual consistency (the fan-out worker): press the list's Refresh until it shows what is expected. */
async function refreshUntil(page: Page, list: 'Your feed' | 'Hot', check: () => Promise<boolean>) {
  const refresh = page.getByRole('region', { name: list }).getByRole('button', { name: 'Refresh' })
  await waitFor(
    async () => {
      await refresh.click()
      await expect.poll(() => refresh.isEnabled(), POLL).toBe(true)
      return check()
    },
    { timeoutMs: 20_000, intervalMs: 250, message: `${list} did not show it` },
  )
}

describe('the web client in Chromium', () => {
  it('logs alice in through the development IdP; the tokens leave the URL and stay in the tab', async () => {
    alice = await openPage(h, { fakeClock: true })
    await alice.page.getByRole('heading', { name: 'Log in' }).waitFor()
    await logIn(alice, 'alice')
    expect(new URL(alice.page.url()).hash).toBe('')
    await text(alice.page.getByRole('status')).toBe('You are logged in.')
    await text(alice.page.locator('#me-handle')).toBe('@alice')
    const session = await stored(alice.page)
    expect(session?.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/)
    // A reload keeps the session (sessionStorage), without a new login.
    await alice.page.reload()
    await text(alice.page.locator('#me-handle')).toBe('@alice')
  })

  it('refreshes the tokens before the access token expires', async () => {
    const before = await stored(alice.page)
    // The page's clock jumps 14.5 minutes: the refresh timer (1 minute before the 15 minutes are up) fires.
    await alice.page.clock.fastForward('14:30')
    await expect.poll(async () => (await stored(alice.page))?.refreshToken, POLL).not.toBe(before?.refreshToken)
    const after = await stored(alice.page)
    expect(after?.accessToken).not.toBe(before?.accessToken)
    // The feed rotated the old refresh token into the new one, in the same session (looked up, not presented
    // again: a replay would be a reuse, docs/feed.md#reuse-detection-and-the-grace-rule).
    const rows = await h.env.schema.sql<{ token_hash: Buffer; parent_hash: Buffer | null; rotated: boolean }[]>`
      select token_hash, parent_hash, rotated_at is not null as rotated from refresh_tokens
      where token_hash in (${hashRefreshToken(before?.refreshToken ?? '')}, ${hashRefreshToken(after?.refreshToken ?? '')})`
    const old = rows.find((r) => r.token_hash.equals(hashRefreshToken(before?.refreshToken ?? '')))
    const next = rows.find((r) => r.token_hash.equals(hashRefreshToken(after?.refreshToken ?? '')))
    expect(old?.rotated).toBe(true)
    expect(next).toMatchObject({ rotated: false, parent_hash: old?.token_hash })
    // ... and the new access token is accepted.
    await alice.page.reload()
    await text(alice.page.locator('#me-handle')).toBe('@alice')
  })

  it('logs bob in (another browser profile); a refused follow shows the problem’s detail', async () => {
    bob = await openPage(h)
    await logIn(bob, 'bob')
    await bob.page.getByLabel('User id').fill('not-a-user-id')
    await bob.page.getByRole('button', { name: 'Follow', exact: true }).click()
    await text(bob.page.getByRole('alert')).toMatch(/uuid/i)
  })

  it('bob follows alice by her user id', async () => {
    const aliceId = (await alice.page.locator('#me-id').textContent()) ?? ''
    expect(aliceId).toMatch(/^[0-9a-f-]{36}$/)
    await bob.page.getByLabel('User id').fill(aliceId)
    await bob.page.getByRole('button', { name: 'Follow', exact: true }).click()
    await text(bob.page.getByRole('status')).toBe('You follow alice (@alice).')
    await text(bob.page.locator('#me-counts')).toContain('following 1')
    expect(await bob.page.getByRole('alert').isHidden()).toBe(true)
  })

  it('shows the problem’s detail when a post is refused (only white space)', async () => {
    await alice.page.getByLabel('What is happening?').fill('   ')
    await alice.page.getByRole('button', { name: 'Post' }).click()
    await text(alice.page.getByRole('alert')).toMatch(/empty/i)
  })

  // The schema is the test's own: the text needs no suffix to be unique.
  const post = 'Hello, feed! My first post from the web client.'

  it('alice posts; the post reaches bob’s feed', async () => {
    await alice.page.getByLabel('What is happening?').fill(post)
    await alice.page.getByRole('button', { name: 'Post' }).click()
    await text(alice.page.getByRole('status')).toContain('Posted')
    expect(await alice.page.getByRole('alert').isHidden()).toBe(true)
    await refreshUntil(bob.page, 'Your feed', async () => (await postIn(feedOf(bob.page), post).count()) === 1)
    const item = postIn(feedOf(bob.page), post)
    await text(item.getByRole('article')).toContain('@alice')
    await text(item.locator('.likes')).toBe('0 likes')
    await count(item.getByRole('button', { name: 'Unfollow @alice' })).toBe(1)
  })

  it('bob likes it: the count changes, and the hot feed shows it', async () => {
    const item = postIn(feedOf(bob.page), post)
    const like = item.getByRole('button', { name: 'Like' })
    await pressed(like).toBe('false')
    await like.click()
    await pressed(like).toBe('true')
    await text(item.locator('.likes')).toBe('1 like')
    const hot = () => postIn(hotOf(bob.page), post)
    await refreshUntil(bob.page, 'Hot', async () => (await hot().count()) === 1)
    await text(hot().locator('.likes')).toBe('1 like')
    // alice sees the like too, on her own post in the hot feed.
    await refreshUntil(
      alice.page,
      'Hot',
      async () => (await postIn(hotOf(alice.page), post).locator('.likes').textContent()) === '1 like',
    )

    const path = process.env.FEED_WEB_SCREENSHOT
    if (path) {
      mkdirSync(dirname(path), { recursive: true })
      await bob.page.screenshot({ path, type: 'png' })
    }
  })

  it('scrolls both feeds page by page with their cursors (Load more), skipping and repeating nothing', async () => {
    // 25 more posts by alice, and bob's likes of 22 of them, through the API with the pages' own tokens.
    const call = async (person: Person, method: string, path: string, body?: object) => {
      const res = await fetch(`${h.feedUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${(await stored(person.page))?.accessToken}`,
          'idempotency-key': `"${randomUUID()}"`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      })
      expect(res.status, `${method} ${path}`).toBeLessThan(300)
      return (await res.json()) as { id: string }
    }
    const more: string[] = []
    for (let i = 1; i <= 25; i++) more.push((await call(alice, 'POST', '/v1/posts', { text: `Post number ${i}` })).id)
    for (const id of more.slice(0, 22)) await call(bob, 'PUT', `/v1/posts/${id}/like`)

    /** Loads every page of a list by its Load more button; the post ids shown, in order. */
    const scroll = async (list: 'Your feed' | 'Hot') => {
      // By its id: a hidden button is not in the accessibility tree, which getByRole searches.
      const loadMore = bob.page.locator(list === 'Hot' ? '#hot-more' : '#feed-more', { hasText: 'Load more' })
      for (let page = 0; await loadMore.isVisible(); page++) {
        if (page === 5)
          throw new Error(`${list}: still more after 5 pages; ${await bob.page.locator('#error').textContent()}`)
        await loadMore.click()
        // The button is disabled while its page loads (app.js act()), and hidden after the last page.
        await expect.poll(() => loadMore.isEnabled(), POLL).toBe(true)
      }
      const items = bob.page.getByRole('list', { name: list }).getByRole('listitem')
      return items.evaluateAll((lis) => lis.map((li) => li.getAttribute('data-post-id') ?? ''))
    }
    let feed: string[] = []
    await refreshUntil(bob.page, 'Your feed', async () => {
      feed = await scroll('Your feed')
      return feed.length === 26
    })
    expect(new Set(feed).size).toBe(26)
    // Newest first: the 25 new posts (UUIDv7 ids sort as they were made), then the first one.
    expect(feed.slice(0, 25)).toEqual([...more].reverse())
    let hot: string[] = []
    await refreshUntil(bob.page, 'Hot', async () => {
      hot = await scroll('Hot')
      return hot.length === 23
    })
    expect(new Set(hot).size).toBe(23)
    expect(hot.sort()).toEqual([...more.slice(0, 22), feed[25]].sort())
  })

  it('bob unfollows alice from her post: her posts leave his feed, also as the service stores it', async () => {
    await postIn(feedOf(bob.page), post).getByRole('button', { name: 'Unfollow @alice' }).click()
    await text(bob.page.getByRole('status')).toBe('You no longer follow alice (@alice).')
    await count(feedOf(bob.page).getByRole('listitem')).toBe(0)
    // Not only on the page: a fresh load of the feed (the worker removed them from the read model) lacks them too.
    await bob.page.reload()
    await text(bob.page.locator('#me-handle')).toBe('@bob')
    await refreshUntil(bob.page, 'Your feed', async () => (await feedOf(bob.page).getByRole('listitem').count()) === 0)
    expect(await bob.page.getByText('Nothing yet').isVisible()).toBe(true)
  })

  it('logs bob out: the session ends at the feed, the tab forgets the tokens', async () => {
    const session = await stored(bob.page)
    await bob.page.getByRole('button', { name: 'Log out' }).click()
    await text(bob.page.getByRole('status')).toBe('You are logged out.')
    await bob.page.getByRole('link', { name: /Log in with/ }).waitFor()
    expect(await stored(bob.page)).toBeNull()
    const refresh = await fetch(`${h.feedUrl}/v1/auth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: session?.refreshToken ?? '' }),
    })
    expect(refresh.status).toBe(401)
  })

  it('met no script error and no Content-Security-Policy violation on the feed’s pages', () => {
    expect([...alice.problems, ...bob.problems]).toEqual([])
  })
})
