// The feed API for the web page (docs/feed.md#web-client): the session's tokens, their refresh, and requests that
// turn problem+json answers (RFC 9457) into errors carrying the problem's `detail`.
//
// Tokens live in sessionStorage: they survive a reload of this tab and die with it, and no other tab or site sees
// them. A script injected into the page could read them, which is what the page's strict Content-Security-Policy
// (src/web/web-client.ts) is for. The refresh token is exchanged once, shortly before the access token expires;
// one exchange at a time, because a refresh token works once and a second exchange of it ends the session
// (docs/feed.md#reuse-detection-and-the-grace-rule).

const STORE_KEY = 'feed.session'
/** Refresh this long before expiry, at most a fifth of the lifetime (a 15-minute token: 1 minute before). */
const REFRESH_LEAD_MS = 60_000
/** A token this close to its expiry is refreshed before a request rather than sent. */
const EXPIRY_MARGIN_MS = 5_000

export class ApiError extends Error {
  /**
   * The message is the problem's `detail`, with what its `errors` point at (invalid-body, invalid-parameter).
   * @param {number} status
   * @param {{ type?: string, title?: string, detail?: string, errors?: { pointer?: string, message?: string }[] }} problem
   */
  constructor(status, problem) {
    const where = (problem.errors ?? []).map((e) => `${e.pointer ?? ''} ${e.message ?? ''}`.trim()).join('; ')
    super(`${problem.detail || problem.title || `The request failed (HTTP ${status}).`}${where ? ` (${where})` : ''}`)
    this.status = status
    this.problem = problem
    /** The problem type's slug (docs/api-errors.md), e.g. invalid-post-text. */
    this.slug = (problem.type || '').split('/').pop()
  }
}

/** @typedef {{ accessToken: string, refreshToken: string, expiresAt: number, lifetimeMs: number, userId: string }} Session */

/** @type {Session | null} */
let session = read()
/** @type {Promise<Session> | null} */
let refreshing = null
let timer = 0
/** @type {(message: string) => void} */
let onEnded = () => {}

function read() {
  try {
    const value = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null')
    return value && typeof value.refreshToken === 'string' ? value : null
  } catch {
    return null
  }
}

/** @param {Record<string, unknown>} tokens a token response (RFC 6749 §5.1) */
function store(tokens, userId) {
  const lifetimeMs = Number(tokens.expires_in) * 1000
  session = {
    accessToken: String(tokens.access_token),
    refreshToken: String(tokens.refresh_token),
    expiresAt: Date.now() + lifetimeMs,
    lifetimeMs,
    userId,
  }
  sessionStorage.setItem(STORE_KEY, JSON.stringify(session))
  schedule()
}

function clear() {
  session = null
  sessionStorage.removeItem(STORE_KEY)
  clearTimeout(timer)
}

function schedule() {
  clearTimeout(timer)
  if (!session) return
  const lead = Math.min(REFRESH_LEAD_MS, session.lifetimeMs / 5)
  const wait = Math.max(0, session.expiresAt - lead - Date.now())
  timer = setTimeout(() => {
    refresh().catch(() => {
      // Not a refusal (that ended the session): the network. Try again in a while; requests also retry.
      timer = setTimeout(schedule, 10_000)
    })
  }, wait)
}

/** Called when the session ends without a logout here (refresh refused): the page asks to log in again. */
export function onSessionEnded(callback) {
  onEnded = callback
}

/** The login's redirect lands on / with the token response in the fragment; take it and drop it from the URL. */
export function takeLoginFromFragment() {
  if (!location.hash.includes('access_token=')) return false
  const values = Object.fromEntries(new URLSearchParams(location.hash.slice(1)))
  history.replaceState(null, '', location.pathname + location.search)
  if (!values.access_token || !values.refresh_token || !values.user_id) return false
  store(values, values.user_id)
  return true
}

export function currentSession() {
  if (session) schedule()
  return session
}

/** One exchange of the refresh token at a time; everyone waiting gets its result. */
export function refresh() {
  if (!session) return Promise.reject(new ApiError(401, { detail: 'You are not logged in.' }))
  refreshing ??= (async () => {
    const { refreshToken, userId } = /** @type {Session} */ (session)
    const res = await fetch('/v1/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    })
    const body = await res.json().catch(() => ({}))
    if (res.ok) {
      store(body, userId)
      return /** @type {Session} */ (session)
    }
    const error = new ApiError(res.status, body)
    if (res.status === 400 || res.status === 401) {
      clear()
      onEnded(`Your session has ended: ${error.message} Log in again.`)
    }
    throw error
  })().finally(() => {
    refreshing = null
  })
  return refreshing
}

async function accessToken() {
  if (!session) throw new ApiError(401, { detail: 'You are not logged in.' })
  if (session.expiresAt - Date.now() < EXPIRY_MARGIN_MS) return (await refresh()).accessToken
  return session.accessToken
}

/** A Structured Field string (the Idempotency-Key draft's form): a new one per operation. */
export function newIdempotencyKey() {
  return `"${crypto.randomUUID()}"`
}

/**
 * A request to the feed's API. `auth: false` sends no token (public routes); a token refused as expired or ended is
 * refreshed once and the request sent again.
 * @param {string} method
 * @param {string} path
 * @param {{ body?: unknown, idempotencyKey?: string, auth?: boolean }} [options]
 */
export async function request(method, path, options = {}) {
  const send = async (token) => {
    const headers = { accept: 'application/json' }
    if (token) headers.authorization = `Bearer ${token}`
    if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    const body = options.body === undefined ? undefined : JSON.stringify(options.body)
    // no-cache: revalidate, so Refresh shows what the service has now (the hot feed allows caches 5 s).
    return fetch(path, { method, headers, body, cache: 'no-cache' })
  }
  const auth = options.auth !== false
  let res = await send(auth ? await accessToken() : undefined)
  if (res.status === 401 && auth && session) res = await send((await refresh()).accessToken)
  const text = await res.text()
  let value = null
  try {
    value = text ? JSON.parse(text) : null
  } catch {
    value = { detail: `The service answered something that is not JSON (HTTP ${res.status}).` }
  }
  if (!res.ok) throw new ApiError(res.status, value || {})
  return value
}

/** Ends the session at the feed (its refresh tokens stop working) and here; a failure there still logs out here. */
export async function logout() {
  const ending = session
  clear()
  if (!ending) return
  await fetch('/v1/auth/logout', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token: ending.refreshToken }),
  }).catch(() => undefined)
}
