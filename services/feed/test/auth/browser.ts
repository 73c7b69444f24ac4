/**
 * A browser as far as a login needs one (tests only): a cookie jar (host-only cookies, path-matched, Max-Age
 * honoured; like a browser, cookies ignore the port, so the feed and the IdP on 127.0.0.1 share a jar), requests
 * with redirect: 'manual' (Node's fetch is undici: the 302 itself comes back, Location included), and HTML forms
 * filled and submitted as a person would.
 */
interface Cookie {
  name: string
  value: string
  host: string
  path: string
  expiresAt: number
}

export interface Page {
  url: URL
  response: Response
  /** The body as text (read once, kept here). */
  body: string
}

export class Browser {
  private jar: Cookie[] = []

  cookie(name: string): string | undefined {
    return this.jar.find((c) => c.name === name && c.expiresAt > Date.now())?.value
  }

  forget(name: string): void {
    this.jar = this.jar.filter((c) => c.name !== name)
  }

  private cookieHeader(url: URL): string | undefined {
    const now = Date.now()
    const sent = this.jar.filter(
      (c) =>
        c.host === url.hostname &&
        c.expiresAt > now &&
        (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)),
    )
    return sent.length === 0 ? undefined : sent.map((c) => `${c.name}=${c.value}`).join('; ')
  }

  private store(url: URL, response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim())
      const eq = pair.indexOf('=')
      const cookie: Cookie = {
        name: pair.slice(0, eq),
        value: pair.slice(eq + 1),
        host: url.hostname,
        path: url.pathname.replace(/\/[^/]*$/, '') || '/',
        expiresAt: Number.POSITIVE_INFINITY,
      }
      for (const attribute of attributes) {
        const [key = '', value = ''] = attribute.split('=')
        if (key.toLowerCase() === 'path') cookie.path = value
        if (key.toLowerCase() === 'max-age') cookie.expiresAt = Date.now() + Number(value) * 1000
        if (key.toLowerCase() === 'expires') cookie.expiresAt = Math.min(cookie.expiresAt, Date.parse(value))
      }
      this.jar = this.jar.filter((c) => !(c.name === cookie.name && c.host === cookie.host && c.path === cookie.path))
      if (cookie.expiresAt > Date.now()) this.jar.push(cookie)
    }
  }

  async request(target: string | URL, init: { method?: string; form?: Record<string, string> } = {}): Promise<Page> {
    const url = new URL(target)
    const headers: Record<string, string> = { accept: 'text/html,application/json' }
    const cookie = this.cookieHeader(url)
    if (cookie) headers.cookie = cookie
    let body: string | undefined
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded'
      body = new URLSearchParams(init.form).toString()
    }
    const response = await fetch(url, {
      method: init.method ?? (body ? 'POST' : 'GET'),
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(15_000),
    })
    this.store(url, response)
    return { url, response, body: await response.text() }
  }

  /**
   * Browses from `start`: follows redirects, submits the provider's forms with `fill` (its login form: any name
   * and password), and stops BEFORE requesting a URL `stop` accepts (the feed's callback, a client's redirect_uri),
   * returning that URL; or at a page that is neither a redirect nor a form.
   */
  async browse(
    start: string | URL,
    options: { stop: (url: URL) => boolean; fill?: Record<string, string>; maxSteps?: number },
  ): Promise<{ stoppedAt?: URL; last: Page }> {
    let next: { url: URL; form?: Record<string, string> } = { url: new URL(start) }
    for (let step = 0; step < (options.maxSteps ?? 20); step++) {
      const page = await this.request(next.url, next.form ? { form: next.form } : {})
      const location = page.response.headers.get('location')
      if (page.response.status >= 300 && page.response.status < 400 && location) {
        const target = new URL(location, page.url)
        if (options.stop(target)) return { stoppedAt: target, last: page }
        next = { url: target }
        continue
      }
      const form = parseForm(page.body)
      if (page.response.status !== 200 || !form) return { last: page }
      next = { url: new URL(form.action, page.url), form: { ...form.fields, ...options.fill } }
    }
    throw new Error('too many steps')
  }
}

/** The first <form> of a page: its action and its inputs' names and values (hidden ones included). */
export function parseForm(html: string): { action: string; fields: Record<string, string> } | undefined {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html)
  if (!form) return undefined
  const action = /action="([^"]*)"/i.exec(form[1] ?? '')?.[1] ?? ''
  const fields: Record<string, string> = {}
  for (const input of (form[2] ?? '').matchAll(/<input\b([^>]*)>/gi)) {
    const name = /name="([^"]*)"/i.exec(input[1] ?? '')?.[1]
    if (name) fields[name] = /value="([^"]*)"/i.exec(input[1] ?? '')?.[1] ?? ''
  }
  return { action: action.replaceAll('&amp;', '&'), fields }
}
