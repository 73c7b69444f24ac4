import { createRandom, exponentialCount, mix32, seedUuid, shuffledRange, zipfSampler } from './random.js'

/**
 * The simulated population of the feed seed (docs/performance.md#seed), made in memory before anything is written,
 * so every count written (users' follower, following and post counts, posts' like counts) is the count of the rows
 * written, and the read model is built from the same graph the follows table holds.
 *
 *  - Users: ids in creation order (UUIDv7 of their creation time, a year before the posts), handles `seed_<n>`.
 *  - Follows: each user follows d others, d log-uniform in [avgFollows / 3.9, 10 x that] (10 to 100 for the
 *    default 40: "most follow 10 to 100", mean 39); whom is drawn by popularity rank with P(rank r) ~ r^-zipf over
 *    a shuffled ranking, so a few accounts gather 100,000+ followers at 1M users and most have a handful.
 *  - Posts: per user an exponential count of mean postsPerUser (most post little, a few a lot), at times spread
 *    uniformly over the last `days` days, ids UUIDv7 of those times (what the commands make).
 *  - Likes: per user an exponential count of mean likesPerUser, each a post of someone the user follows, made
 *    hours after the post (exponential, mean LIKE_DELAY_MS): the last day's posts gather the last day's likes, as
 *    a hot feed expects, and the likes of the last day are about a sixth of all.
 *  - Active users: the activeShare of users whose last post or like is the most recent; the read model (user_feed
 *    and the Redis timelines) is materialised for them only, as the fan-out worker keeps Redis for active users.
 *  - Large authors: more followers than largeAuthorFollowers (FANOUT_MAX_FOLLOWERS): never fanned out, their
 *    followers hold a large_follows row instead (merged at read time).
 */
export interface GraphOptions {
  users: number
  avgFollows: number
  postsPerUser: number
  likesPerUser: number
  /** Posts and likes fall within the last `days` days. */
  days: number
  /** Share of users (0..1] whose feeds are materialised. */
  activeShare: number
  /** Zipf exponent of the followee draw, in (0, 1). */
  zipf: number
  /** The generator's seed: the same options and seed give the same graph. */
  seed: number
  /** "Now" of the simulation (ms since the epoch): every time is before it. */
  now: number
  /** FANOUT_MAX_FOLLOWERS: authors with more followers are large accounts. */
  largeAuthorFollowers: number
}

export interface SeedGraph {
  options: GraphOptions
  userCount: number
  userIds: string[]
  userCreatedMs: Float64Array
  /** CSR: the followees of user u are followees[followOffsets[u] .. followOffsets[u + 1]), ascending (= id order). */
  followOffsets: Int32Array
  followees: Int32Array
  followerCount: Int32Array
  /** Post k: author postAuthor[k], created postMs[k]; k ascending is time ascending (and id order). */
  postAuthor: Int32Array
  postMs: Float64Array
  postLikes: Int32Array
  /** CSR: user u's posts, ascending. */
  authorPostOffsets: Int32Array
  authorPosts: Int32Array
  /** CSR: user u's likes: likedPosts[i] (ascending per user) made at likeMs[i]. */
  likeOffsets: Int32Array
  likedPosts: Int32Array
  likeMs: Float64Array
  /** Users whose feeds are materialised, ascending. */
  active: Int32Array
  /** 1 for a large account. */
  large: Uint8Array
  largeAuthors: number[]
}

const DAY_MS = 86_400_000
/** Mean time from a post to a like of it. */
export const LIKE_DELAY_MS = 6 * 3_600_000

/** When a like of a post made at `posted` is made: an exponential delay, drawn again if past `now`. */
function likeTime(posted: number, now: number, random: () => number): number {
  for (let i = 0; i < 4; i++) {
    const at = posted - Math.log(1 - random()) * LIKE_DELAY_MS
    if (at <= now) return Math.floor(at)
  }
  return Math.floor(posted + random() * (now - posted))
}
/** The `kind` of seedUuid: users and posts made in the same millisecond still get different ids. */
export const ID_KIND = { user: 1, post: 2 } as const

export const handleOf = (u: number) => `seed_${u}`
export const postIdOf = (graph: SeedGraph, k: number) => seedUuid(graph.postMs[k] as number, k, ID_KIND.post)
/** When the window of posts begins: follows are made before it, posts and likes after. */
export const windowStart = (o: GraphOptions) => o.now - o.days * DAY_MS

/** Follow e (an index into followees) of follower u: made between both accounts' creation and the window. */
export function followCreatedMs(graph: SeedGraph, u: number, e: number): number {
  const followee = graph.followees[e] as number
  const from = Math.max(graph.userCreatedMs[u] as number, graph.userCreatedMs[followee] as number)
  return from + (mix32(e) / 4_294_967_296) * (windowStart(graph.options) - from)
}

export function buildGraph(options: GraphOptions, onPhase: (phase: string) => void = () => {}): SeedGraph {
  const o = options
  const n = o.users
  if (!Number.isInteger(n) || n < 2) throw new Error('--users must be an integer of at least 2')
  const random = createRandom(o.seed)
  const start = windowStart(o)

  onPhase('users')
  const userCreatedMs = new Float64Array(n)
  const userIds = new Array<string>(n)
  const yearMs = 365 * DAY_MS
  for (let u = 0; u < n; u++) {
    // evenly over the year before the window, in index order: ids ascend with the index
    userCreatedMs[u] = Math.floor(start - yearMs + (u / n) * (yearMs - 60_000))
    userIds[u] = seedUuid(userCreatedMs[u] as number, u, ID_KIND.user)
  }

  onPhase('follow graph')
  const rankToUser = shuffledRange(n, random)
  const drawRank = zipfSampler(n, o.zipf, random)
  const low = Math.max(1, o.avgFollows / 3.9)
  const degrees = new Int32Array(n)
  let planned = 0
  for (let u = 0; u < n; u++) {
    degrees[u] = Math.min(n - 1, Math.floor(low * 10 ** random()))
    planned += degrees[u] as number
  }
  const followOffsets = new Int32Array(n + 1)
  const followees = new Int32Array(planned)
  const followerCount = new Int32Array(n)
  const scratch = new Int32Array(n)
  let at = 0
  for (let u = 0; u < n; u++) {
    followOffsets[u] = at
    const want = degrees[u] as number
    // draw, sort, drop repeats, draw again for what is missing: popular accounts come up again and again (a Set
    // per user costs 10x more); a few rounds at most, more only in tiny graphs, which then stop a little short
    let have = 0
    for (let round = 0; have < want && round < 8; round++) {
      for (let i = have; i < want; i++) scratch[i] = rankToUser[drawRank() - 1] as number
      const drawn = scratch.subarray(0, want).sort()
      have = 0
      for (let i = 0; i < want; i++) {
        const v = drawn[i] as number
        if (v !== u && (have === 0 || v !== drawn[have - 1])) drawn[have++] = v
      }
    }
    for (let i = 0; i < have; i++) {
      const v = scratch[i] as number
      followees[at + i] = v
      followerCount[v] = (followerCount[v] as number) + 1
    }
    at += have
  }
  followOffsets[n] = at

  onPhase('posts')
  const postCount = new Int32Array(n)
  let m = 0
  for (let u = 0; u < n; u++) {
    postCount[u] = exponentialCount(o.postsPerUser, random)
    m += postCount[u] as number
  }
  const postAuthor = new Int32Array(m)
  for (let u = 0, k = 0; u < n; u++) for (let c = postCount[u] as number; c > 0; c--) postAuthor[k++] = u
  // authors in random order over time (Fisher-Yates), times sorted: exponential spacings are sorted uniforms
  for (let k = m - 1; k > 0; k--) {
    const j = Math.floor(random() * (k + 1))
    const tmp = postAuthor[k] as number
    postAuthor[k] = postAuthor[j] as number
    postAuthor[j] = tmp
  }
  const postMs = new Float64Array(m)
  let sum = 0
  for (let k = 0; k < m; k++) {
    sum += -Math.log(1 - random())
    postMs[k] = sum
  }
  const span = o.now - 60_000 - start
  const total = sum - Math.log(1 - random())
  for (let k = 0; k < m; k++) postMs[k] = Math.floor(start + ((postMs[k] as number) / total) * span)
  const authorPostOffsets = offsetsOf(postCount)
  const authorPosts = new Int32Array(m)
  const fill = authorPostOffsets.slice(0, n)
  for (let k = 0; k < m; k++) {
    const u = postAuthor[k] as number
    authorPosts[fill[u] as number] = k
    fill[u] = (fill[u] as number) + 1
  }

  onPhase('likes')
  const likeOffsets = new Int32Array(n + 1)
  let likedPosts = new Int32Array(Math.ceil(n * o.likesPerUser * 1.2) + 16)
  let likeMs = new Float64Array(likedPosts.length)
  const postLikes = new Int32Array(m)
  const lastActiveMs = Float64Array.from(userCreatedMs)
  let likes = 0
  for (let u = 0; u < n; u++) {
    likeOffsets[u] = likes
    const from = followOffsets[u] as number
    const degree = (followOffsets[u + 1] as number) - from
    const want = Math.min(n, degree === 0 ? 0 : exponentialCount(o.likesPerUser, random))
    if (likes + want > likedPosts.length) {
      const grown = new Int32Array(Math.ceil((likes + want) * 1.5))
      grown.set(likedPosts)
      likedPosts = grown
      const grownMs = new Float64Array(grown.length)
      grownMs.set(likeMs)
      likeMs = grownMs
    }
    // a post of someone u follows, drawn `want` times; sorted, repeats dropped (fewer likes, never two of one post)
    let drawn = 0
    for (let tries = 0; drawn < want && tries < want * 4; tries++) {
      const author = followees[from + Math.floor(random() * degree)] as number
      const count = postCount[author] as number
      if (count === 0) continue
      scratch[drawn++] = authorPosts[(authorPostOffsets[author] as number) + Math.floor(random() * count)] as number
    }
    const mine = scratch.subarray(0, drawn).sort()
    for (let i = 0; i < drawn; i++) {
      const k = mine[i] as number
      if (i > 0 && k === mine[i - 1]) continue
      const ms = likeTime(postMs[k] as number, o.now, random)
      likedPosts[likes] = k
      likeMs[likes++] = ms
      postLikes[k] = (postLikes[k] as number) + 1
      if (ms > (lastActiveMs[u] as number)) lastActiveMs[u] = ms
    }
  }
  likeOffsets[n] = likes
  for (let k = 0; k < m; k++) {
    const u = postAuthor[k] as number
    if ((postMs[k] as number) > (lastActiveMs[u] as number)) lastActiveMs[u] = postMs[k] as number
  }

  onPhase('active users')
  const activeCount = Math.max(1, Math.min(n, Math.ceil(o.activeShare * n)))
  const sorted = Float64Array.from(lastActiveMs).sort()
  const threshold = sorted[n - activeCount] as number
  const activeList: number[] = []
  // ties at the threshold: the first ones in index order, so exactly activeCount users
  let atThreshold = activeCount - [...sorted.subarray(n - activeCount)].filter((ms) => ms > threshold).length
  for (let u = 0; u < n; u++) {
    const ms = lastActiveMs[u] as number
    if (ms > threshold || (ms === threshold && atThreshold-- > 0)) activeList.push(u)
  }

  const large = new Uint8Array(n)
  const largeAuthors: number[] = []
  for (let u = 0; u < n; u++) {
    if ((followerCount[u] as number) > o.largeAuthorFollowers) {
      large[u] = 1
      largeAuthors.push(u)
    }
  }

  return {
    options: o,
    userCount: n,
    userIds,
    userCreatedMs,
    followOffsets,
    followees: followees.subarray(0, at),
    followerCount,
    postAuthor,
    postMs,
    postLikes,
    authorPostOffsets,
    authorPosts,
    likeOffsets,
    likedPosts: likedPosts.subarray(0, likes),
    likeMs: likeMs.subarray(0, likes),
    active: Int32Array.from(activeList),
    large,
    largeAuthors,
  }
}

function offsetsOf(counts: Int32Array): Int32Array {
  const offsets = new Int32Array(counts.length + 1)
  for (let i = 0; i < counts.length; i++) offsets[i + 1] = (offsets[i] as number) + (counts[i] as number)
  return offsets
}

export const followingCount = (g: SeedGraph, u: number) =>
  (g.followOffsets[u + 1] as number) - (g.followOffsets[u] as number)
export const postCountOf = (g: SeedGraph, u: number) =>
  (g.authorPostOffsets[u + 1] as number) - (g.authorPostOffsets[u] as number)

/**
 * The personal feed of user u as the fan-out worker builds it: u's own posts (the worker writes the author's entry
 * too) and the posts of the small accounts u follows (large ones are merged at read time), ascending.
 */
export function feedOf(g: SeedGraph, u: number): number[] {
  const posts: number[] = []
  const add = (author: number) => {
    for (let i = g.authorPostOffsets[author] as number; i < (g.authorPostOffsets[author + 1] as number); i++) {
      posts.push(g.authorPosts[i] as number)
    }
  }
  add(u)
  for (let e = g.followOffsets[u] as number; e < (g.followOffsets[u + 1] as number); e++) {
    const author = g.followees[e] as number
    if (!g.large[author]) add(author)
  }
  return posts.sort((a, b) => a - b)
}

/** Rows of each table the seed writes, and of the read model, for the progress line and the summary. */
export function rowCounts(g: SeedGraph): Record<string, number> {
  let feedRows = 0
  for (const u of g.active) feedRows += feedOf(g, u).length
  let largeFollows = 0
  for (const v of g.followees) if (g.large[v]) largeFollows++
  return {
    users: g.userCount,
    follows: g.followees.length,
    posts: g.postAuthor.length,
    likes: g.likedPosts.length,
    user_feed: feedRows,
    large_authors: g.largeAuthors.length,
    large_follows: largeFollows,
  }
}
