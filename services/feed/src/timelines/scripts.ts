import type { createRedis } from '@platform/http'

/** ioredis' client, as the service runtime makes it (no direct ioredis dependency of the feed). */
export type Redis = ReturnType<typeof createRedis>
type ChainableCommander = ReturnType<Redis['pipeline']>

/**
 * The Lua scripts of the feed's sorted sets (keys.ts says what the sets hold). Each is atomic in Redis, takes every
 * key it touches in KEYS (so REDIS_PREFIX and the cluster slot apply) and is idempotent: running it twice leaves
 * what running it once did. Defined on a client with ioredis' defineCommand (EVALSHA, with EVAL when the script is
 * not cached yet), and callable on the client and inside a pipeline.
 */

/** Keeps at most ARGV size entries besides the markers (keys.ts COMPLETE, BUILDING): drops the oldest. */
const TRIM = `
local function trim(key, size)
  local markers = 0
  if redis.call('zscore', key, '') then markers = markers + 1 end
  if redis.call('zscore', key, '!') then markers = markers + 1 end
  local excess = redis.call('zcard', key) - markers - size
  if excess > 0 then redis.call('zremrangebyrank', key, markers, markers + excess - 1) end
end
local function zaddAll(key, first)
  local args = {}
  for j = first, #ARGV do
    args[#args + 1] = 0
    args[#args + 1] = ARGV[j]
  end
  if #args > 0 then redis.call('zadd', key, unpack(args)) end
end
`

const scripts = {
  /**
   * KEYS: sets; ARGV: size, members... Adds the members to every set that EXISTS (a missing timeline is an inactive
   * user's: no write), trims each. Returns how many sets were written.
   */
  feedAdd: `${TRIM}
    local size = tonumber(ARGV[1])
    local written = 0
    for _, key in ipairs(KEYS) do
      if redis.call('exists', key) == 1 then
        zaddAll(key, 2)
        trim(key, size)
        written = written + 1
      end
    end
    return written`,

  /**
   * KEYS: one set; ARGV: size, ttlMs (0: none), members... Adds the members and the COMPLETE marker, drops
   * BUILDING, trims, sets the TTL: the end of a rebuild from PostgreSQL. Merges, never replaces: an entry a
   * fan-out wrote during the rebuild stays.
   */
  feedComplete: `${TRIM}
    local key = KEYS[1]
    zaddAll(key, 3)
    redis.call('zadd', key, 0, '')
    redis.call('zrem', key, '!')
    trim(key, tonumber(ARGV[1]))
    if tonumber(ARGV[2]) > 0 then redis.call('pexpire', key, ARGV[2]) end
    return redis.call('zcard', key) - 1`,

  /**
   * KEYS: one set; ARGV: ttlMs. The start of a rebuild: a set that is not COMPLETE gets the BUILDING marker (it now
   * exists, so fan-out writes land in it while PostgreSQL is read) and the TTL. Returns 1 if it was COMPLETE.
   */
  feedOpen: `
    local key = KEYS[1]
    if redis.call('zscore', key, '') then return 1 end
    redis.call('zadd', key, 0, '!')
    redis.call('pexpire', key, ARGV[1])
    return 0`,

  /**
   * KEYS: one set; ARGV: max (a ZRANGE BYLEX bound, e.g. "+" or "(<postId>"), min, limit, ttlMs (0: leave the TTL).
   * A page newest first of a COMPLETE set, whose TTL it refreshes (a read is what keeps a user active).
   * Returns {state, entries, members...}: state 1 complete, 2 building, 0 missing; entries = the count besides
   * the markers.
   */
  feedPage: `
    local key = KEYS[1]
    if not redis.call('zscore', key, '') then
      if redis.call('exists', key) == 1 then return {2, 0} end
      return {0, 0}
    end
    if tonumber(ARGV[4]) > 0 then redis.call('pexpire', key, ARGV[4]) end
    local markers = 1
    if redis.call('zscore', key, '!') then markers = 2 end
    local page = redis.call('zrange', key, ARGV[1], ARGV[2], 'BYLEX', 'REV', 'LIMIT', 0, tonumber(ARGV[3]))
    local reply = {1, redis.call('zcard', key) - markers}
    for _, member in ipairs(page) do reply[#reply + 1] = member end
    return reply`,

  /** KEYS: one timeline; ARGV: ":<authorId>". Removes the author's entries. Returns how many. */
  feedRemoveAuthor: `
    local key = KEYS[1]
    local suffix = ARGV[1]
    local removed = 0
    for _, member in ipairs(redis.call('zrange', key, 0, -1)) do
      if #member > #suffix and string.sub(member, -#suffix) == suffix then
        removed = removed + redis.call('zrem', key, member)
      end
    end
    return removed`,

  /**
   * KEYS: the (likes, likers) pairs of the window's hours, oldest first (keys.ts hotLikesKey, hotLikersKey);
   * ARGV: postId, "<postId>:<likerId>", target (0-based index of the hour the like counts in, -1: it counts in
   * none), then the expiry (unix seconds) of each hour. Makes the like count exactly once, in the target hour, and
   * in no other: the like's field is set there (and the post's score raised) unless it already is, and removed
   * everywhere else (the score lowered; a score at 0 leaves the bucket). Returns the net change.
   */
  feedLikeReconcile: `
    local post, field, target = ARGV[1], ARGV[2], tonumber(ARGV[3])
    local delta = 0
    for i = 0, (#KEYS / 2) - 1 do
      local likes, likers = KEYS[2 * i + 1], KEYS[2 * i + 2]
      if i == target then
        if redis.call('hsetnx', likers, field, '1') == 1 then
          redis.call('zincrby', likes, 1, post)
          delta = delta + 1
        end
        redis.call('expireat', likes, ARGV[4 + i])
        redis.call('expireat', likers, ARGV[4 + i])
      elseif redis.call('hdel', likers, field) == 1 then
        if tonumber(redis.call('zincrby', likes, -1, post)) <= 0 then redis.call('zrem', likes, post) end
        delta = delta - 1
      end
    end
    return delta`,

  /**
   * KEYS: the (likes, likers) pair of one hour, a rebuild's copy (keys.ts hotStagedLikesKey, hotStagedLikersKey);
   * ARGV: postId, "<postId>:<likerId>", the copy's expiry (unix seconds). Counts the like in that hour unless it
   * already is (the rebuild's write: it touches one hour, where feedLikeReconcile touches all 25). Returns 1 when
   * counted now, 0 when it already was.
   */
  feedLikeRestore: `
    local counted = 0
    if redis.call('hsetnx', KEYS[2], ARGV[2], '1') == 1 then
      redis.call('zincrby', KEYS[1], 1, ARGV[1])
      counted = 1
    end
    redis.call('expireat', KEYS[1], ARGV[3])
    redis.call('expireat', KEYS[2], ARGV[3])
    return counted`,

  /**
   * KEYS: the rebuild token (keys.ts HOT_REBUILD_TOKEN_KEY), then for each hour of the window: its live likes and
   * likers, and the rebuild's copies of them (hotStagedLikesKey, hotStagedLikersKey); ARGV: the rebuild's token,
   * then each hour's expiry (unix seconds), then the likers each hour's copy should hold. Changes nothing and returns
   * {0, 0} when Redis lost the token, {-1, 0} when a copy lost fields (evicted: its likers are fewer than counted
   * into it). Otherwise each copy replaces its live key (the old value UNLINKed, freed in the background rather
   * than inside this script; then RENAME and the bucket's expiry), and an hour without a copy (no like in it) is
   * emptied: one atomic step, so the ranking never sums half old, half new buckets. Returns {1, the net change in
   * pairs counted}: the likes Redis had lost (negative: counted that no longer stood).
   */
  feedHotSwapRebuilt: `
    if redis.call('get', KEYS[1]) ~= ARGV[1] then return {0, 0} end
    local hours = (#KEYS - 1) / 4
    for i = 0, hours - 1 do
      if redis.call('hlen', KEYS[4 * i + 5]) ~= tonumber(ARGV[hours + i + 2]) then return {-1, 0} end
    end
    local delta = 0
    for i = 0, hours - 1 do
      local likes, likers = KEYS[4 * i + 2], KEYS[4 * i + 3]
      local stagedLikes, stagedLikers = KEYS[4 * i + 4], KEYS[4 * i + 5]
      delta = delta + redis.call('hlen', stagedLikers) - redis.call('hlen', likers)
      for _, pair in ipairs({{stagedLikes, likes}, {stagedLikers, likers}}) do
        if redis.call('exists', pair[1]) == 1 then
          redis.call('unlink', pair[2])
          redis.call('rename', pair[1], pair[2])
          redis.call('expireat', pair[2], ARGV[i + 2])
        else
          redis.call('del', pair[2])
        end
      end
    end
    return {1, delta}`,

  /**
   * KEYS: the rebuild token, the marker (keys.ts HOT_REBUILD_TOKEN_KEY, HOT_BUCKETS_COMPLETE_KEY); ARGV: the token
   * of the rebuild that ends. Sets the marker (and drops the token) only if the token is still this rebuild's.
   * Returns 1 when set, 0 when the token is gone (Redis lost it, so the buckets this rebuild wrote are incomplete).
   */
  feedHotMarkComplete: `
    if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
    redis.call('set', KEYS[2], '1')
    redis.call('del', KEYS[1])
    return 1`,
} as const

type Arg = string | number
type Reply<T> = Promise<T>

/** The scripts as commands: `numberOfKeys` first, then the keys, then the arguments. */
export interface FeedScripts {
  feedAdd(numberOfKeys: number, ...keysAndArgs: Arg[]): Reply<number>
  feedComplete(numberOfKeys: number, ...keysAndArgs: Arg[]): Reply<number>
  feedOpen(numberOfKeys: number, ...keysAndArgs: Arg[]): Reply<number>
  feedPage(numberOfKeys: number, ...keysAndArgs: Arg[]): Reply<(number | string)[]>
  feedRemoveAuthor(numberOfKeys: number, ...keysAndArgs: Arg[]): Reply<number>
  feedLikeReconcile(numberOfKeys: number, ...keysAndArgs: Arg[]): Reply<number>
  feedLikeRestore(numberOfKeys: number, ...keysAndArgs: Arg[]): Reply<number>
  feedHotSwapRebuilt(numberOfKeys: number, ...keysAndArgs: Arg[]): Reply<[number, number]>
  feedHotMarkComplete(numberOfKeys: number, ...keysAndArgs: Arg[]): Reply<number>
}

/** The same commands queued in a pipeline (their replies come with exec()). */
export type FeedScriptsPipeline = {
  [K in keyof FeedScripts]: (numberOfKeys: number, ...keysAndArgs: Arg[]) => FeedPipeline
}
export type FeedPipeline = ChainableCommander & FeedScriptsPipeline

export type FeedRedis = Redis & FeedScripts

/** Defines the scripts on `redis` (once per client; a second call finds them). */
export function withFeedScripts(redis: Redis): FeedRedis {
  const client = redis as FeedRedis
  for (const [name, lua] of Object.entries(scripts)) {
    if (!(name in client)) redis.defineCommand(name, { lua })
  }
  return client
}

/** A pipeline with the scripts. */
export function feedPipeline(redis: FeedRedis): FeedPipeline {
  return redis.pipeline() as FeedPipeline
}

/** The replies of a pipeline, or the first error in it (ioredis reports errors per command). */
export async function execPipeline(pipeline: ChainableCommander): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? []
  return results.map(([error, reply]) => {
    if (error) throw error
    return reply
  })
}
