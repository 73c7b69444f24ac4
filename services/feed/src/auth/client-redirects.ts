import { ConfigError } from '@platform/config'

/**
 * Where a login may send the browser back with its tokens: the client `redirect_uri` values of
 * FEED_AUTH_REDIRECT_ALLOWLIST, compared exactly (scheme, host, port and path after WHATWG URL normalisation; the
 * query may differ, it is the client's own), never by prefix or pattern (RFC 9700 §4.1.3: exact string matching).
 * Anything else is refused before the login starts, so the feed is never an open redirector (RFC 9700 §4.11).
 *
 * Entries may be https URLs, http on a loopback address (a local web client), or a native app's private-use scheme
 * (`com.example.app:/oauth`, RFC 8252 §7.1). Production refuses plain http to anything but loopback.
 */
export interface ClientRedirects {
  /** The normalised URL to redirect to, when `value` is on the list; undefined otherwise. */
  match(value: string): URL | undefined
  readonly size: number
}

const VARIABLE = 'FEED_AUTH_REDIRECT_ALLOWLIST'
/** Schemes that run code or read local data where a browser lands: never a redirect target. */
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'vbscript:', 'file:', 'blob:', 'about:', 'filesystem:'])
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost'])

/** What must be equal: everything but the query. A URL with credentials or a fragment never matches. */
function keyOf(url: URL): string | undefined {
  if (url.username || url.password || url.hash || FORBIDDEN_SCHEMES.has(url.protocol)) return undefined
  return `${url.protocol}//${url.host}${url.pathname}`
}

function parse(value: string): URL | undefined {
  try {
    return new URL(value)
  } catch {
    return undefined
  }
}

/** The list from its variable: entries separated by commas or white space. Throws a ConfigError naming the entry. */
export function parseClientRedirects(value: string | undefined, options: { production: boolean }): ClientRedirects {
  const entries = (value ?? '').split(/[\s,]+/).filter((entry) => entry !== '')
  const keys = new Set<string>()
  entries.forEach((entry, index) => {
    const fail = (message: string) =>
      new ConfigError([{ variable: VARIABLE, message: `entry ${index + 1} ("${entry.slice(0, 200)}") ${message}` }])
    const url = parse(entry)
    if (!url) throw fail('is not an absolute URL')
    if (url.search) throw fail('has a query: list the URL without it (a client may add its own query)')
    const key = keyOf(url)
    if (!key) throw fail('holds credentials, a fragment or a scheme that is never a redirect target')
    if (url.protocol === 'http:' && options.production && !LOOPBACK.has(url.hostname)) {
      throw fail('is plain http to a host that is not loopback: production needs https')
    }
    keys.add(key)
  })
  return {
    size: keys.size,
    match(candidate) {
      const url = candidate.length <= 2048 ? parse(candidate) : undefined
      const key = url && keyOf(url)
      return key !== undefined && keys.has(key) ? url : undefined
    },
  }
}
