/**
 * Logical shards of the feed's per-user state (docs/feed.md#read-model-and-shards). A user's shard is a pure
 * function of the user id, so every process (API, worker, seed, a later router) computes the same one without a
 * lookup. It names the Redis hash tag of every per-user key (keys.ts): the keys of one shard share one Redis Cluster
 * slot, so a fan-out batch writes all the timelines of one shard with ONE script call, and a cluster can move a
 * whole shard by moving its slot.
 *
 * The PostgreSQL read model is hash-partitioned by user_id with PostgreSQL's own hash (16 partitions, 0010): it
 * need not match this function, since each store routes by user_id on its own. What both share is the key,
 * user_id, and the count, 16.
 */

/**
 * How many logical shards. Fixed: changing it re-maps Redis keys to other hash tags, which is harmless (Redis
 * holds a cache, rebuilt from PostgreSQL on a miss) but empties every timeline at once. 16 is more than one
 * machine needs and few enough that a per-shard loop is cheap; Redis Cluster's 16,384 slots take them as they are.
 */
export const FEED_SHARDS = 16

/**
 * FNV-1a (32 bits) of the UUID's 16 bytes, modulo `shards`. Over all the bytes, not the leading ones: a UUIDv7
 * begins with its creation time, so users made in the same second would otherwise share a shard. The text form is
 * case-folded and its hyphens skipped, so "0190A5F2-..." and "0190a5f2..." are one user. An id that is not 32 hex
 * digits still gets a shard (its characters are hashed as they are): routing never throws.
 */
export function shardOf(userId: string, shards = FEED_SHARDS): number {
  const hex = userId.toLowerCase().replace(/-/g, '')
  let hash = 0x811c9dc5
  if (/^[0-9a-f]{32}$/.test(hex)) {
    for (let i = 0; i < 32; i += 2) {
      hash ^= Number.parseInt(hex.slice(i, i + 2), 16)
      hash = Math.imul(hash, 0x01000193)
    }
  } else {
    for (let i = 0; i < userId.length; i++) {
      hash ^= userId.charCodeAt(i) & 0xff
      hash = Math.imul(hash, 0x01000193)
    }
  }
  return (hash >>> 0) % shards
}

/**
 * The Redis hash tag of a shard: `{s07}`. Redis Cluster hashes only the part between the first `{` and `}` of a key
 * (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags), so every key with it maps
 * to one slot. REDIS_PREFIX goes in front of it and must therefore hold no `{`.
 */
export function shardTag(shard: number): string {
  return `{s${String(shard).padStart(2, '0')}}`
}

/** The hash tag of a user's keys. */
export function userTag(userId: string): string {
  return shardTag(shardOf(userId))
}

/** Groups ids by their shard (insertion order kept within each), for one script call per shard. */
export function groupByShard<T>(items: readonly T[], idOf: (item: T) => string): Map<number, T[]> {
  const groups = new Map<number, T[]>()
  for (const item of items) {
    const shard = shardOf(idOf(item))
    const group = groups.get(shard)
    if (group) group.push(item)
    else groups.set(shard, [item])
  }
  return groups
}
