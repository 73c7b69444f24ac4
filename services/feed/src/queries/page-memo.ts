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
  /**
   * At most this many pages held. Cursors are the clients' (offsets and limits of the public hot feed), so this
   * bounds the memory one client can fill: maxEntries × the largest page (100 items).
   */
  maxEntries: number
}

interface Entry {
  expires: number
  value: Promise<string>
}

export function createPageMemo(options: PageMemoOptions) {
  const { ttlMs, maxEntries } = options
  const entries = new Map<string, Entry>()

  return {
    /**
     * The answer held for `key`, or `load`'s, which is then held for `ttlMs` (unless it fails). `onHit` is called
     * when the answer came from the memo (the caller's hit metric).
     */
    get(key: string, load: () => Promise<string>, onHit?: () => void): Promise<string> {
      if (ttlMs <= 0) return load()
      const now = Date.now()
      const held = entries.get(key)
      if (held && held.expires > now) {
        onHit?.()
        return held.value
      }
      if (held) entries.delete(key)
      // Map iteration is insertion order, and every entry lives ttlMs: the first ones are the oldest. Expired ones
      // go as soon as anything is added, the oldest live ones when the memo is full.
      for (const [oldKey, old] of entries) {
        if (old.expires > now && entries.size < maxEntries) break
        entries.delete(oldKey)
      }
      const value = load()
      const entry = { expires: now + ttlMs, value }
      entries.set(key, entry)
      value.catch(() => {
        if (entries.get(key) === entry) entries.delete(key)
      })
      return value
    },

    /** Pages held now (tests, metrics). */
    get size() {
      return entries.size
    },
  }
}

export type PageMemo = ReturnType<typeof createPageMemo>
