/**
 * A short-lived in-process memo of hot-feed pages ("micro-caching", as nginx's proxy_cache_valid of a second):
 * every request for the same page within `ttlMs` gets the same answer, and concurrent requests for a page that is
 * not held share one Redis round trip. The hot feed is the same for every reader, so at thousands of requests per
 * second nearly every page is answered from memory, and Redis sees at most one read per page, process and `ttlMs`.
 *
 * What it costs, and why that is allowed: a new ranking shows up to `ttlMs` later on this instance (the hot feed's
 * window, docs/feed.md#cache-ttl-and-the-stampede-guard, grows by it), and a snapshot's lifetime in Redis is renewed
 * by the reads that miss here, at least once per `ttlMs` while it is read, so it still expires
 * FEED_HOT_SNAPSHOT_TTL_S after its last reader, give or take `ttlMs`. Failures are not kept: the next request asks
 * again. At most `maxEntries` pages are held; the oldest goes first.
 */
export interface PageMemoOptions {
  /** How long an answer is reused; 0 turns the memo off (every request reads Redis). */
  ttlMs: number
  maxEntries: number
  /** Counts a request answered from the memo (the cache's hit metric). */
  onHit?: () => void
}

interface Entry {
  expires: number
  value: Promise<string>
}

export function createPageMemo(options: PageMemoOptions) {
  const { ttlMs, maxEntries } = options
  const entries = new Map<string, Entry>()

  return {
    /** The answer held for `key`, or `load`'s, which is then held for `ttlMs` (unless it fails). */
    get(key: string, load: () => Promise<string>): Promise<string> {
      if (ttlMs <= 0) return load()
      const now = Date.now()
      const held = entries.get(key)
      if (held && held.expires > now) {
        options.onHit?.()
        return held.value
      }
      if (held) entries.delete(key)
      const value = load()
      const entry = { expires: now + ttlMs, value }
      entries.set(key, entry)
      value.catch(() => {
        if (entries.get(key) === entry) entries.delete(key)
      })
      // Map iteration is insertion order: the first key is the oldest.
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string)
      return value
    },
  }
}

export type PageMemo = ReturnType<typeof createPageMemo>
