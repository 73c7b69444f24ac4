import { createLogger } from '@platform/logging'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backfillFeed } from '../src/projections/backfill-feed.js'
import { createReadModelRetention } from '../src/queues/read-model-retention.js'
import type { TestUser } from './commands-harness.js'
import { type ReadsHarness, startReads } from './reads-harness.js'

/**
 * The read model's retention (docs/feed.md#retention): the worker's job deletes user_feed entries older than
 * FEED_RETENTION_DAYS and fan-out jobs finished more than a week ago, in batches, and the personal feed shows no
 * post older than the retention whether its page comes from Redis (which may still hold it) or from user_feed.
 */
const DAY_MS = 86_400_000
let h: ReadsHarness
let author: TestUser
let readers: TestUser[]
let old: string[]
let recent: string[]

beforeAll(async () => {
  h = await startReads()
  author = await h.newUser('retained')
  readers = [await h.newUser('reader_a'), await h.newUser('reader_b'), await h.newUser('reader_c')]
  const ids = readers.map((r) => r.user.id)
  old = [
    await h.post(author, 'a hundred days ago', new Date(Date.now() - 100 * DAY_MS)),
    await h.post(author, 'ninety-one days ago', new Date(Date.now() - 91 * DAY_MS)),
  ]
  recent = [await h.post(author, 'eighty-nine days ago', new Date(Date.now() - 89 * DAY_MS)), await h.post(author)]
  for (const id of [...old, ...recent]) await h.deliver(id, author.user.id, ids)
})
afterAll(async () => {
  await h?.close()
})

const entriesOf = async (postIds: string[]) =>
  Number(
    (await h.sql<{ n: number }[]>`select count(*)::int as n from user_feed where post_id = any(${postIds}::uuid[])`)[0]
      ?.n,
  )

describe('the read model retention job', () => {
  it('shows no post older than FEED_RETENTION_DAYS in a page, from Redis or from user_feed', async () => {
    const [a] = readers as [TestUser]
    // Redis holds every post, the old ones too (as a timeline may, until the window trims them).
    await h.timelines.openTimeline(a.user.id)
    await h.timelines.completeTimeline(
      a.user.id,
      [...old, ...recent].map((postId) => ({ postId, authorId: author.user.id })),
    )
    const { feed } = h.personalFeed()
    const fromRedis = await feed.page(a.user.id, { limit: 20 })
    expect(fromRedis.items.map((i) => i.post.id)).toEqual([...recent].reverse())

    await h.timelines.dropTimeline(a.user.id)
    const fromTable = await feed.page(a.user.id, { limit: 20 })
    expect(fromTable).toEqual(fromRedis)
    await feed.settled()
  })

  it("copies no post older than the retention into a new follower's feed (a follow's backfill)", async () => {
    const follower = await h.newUser('late_follower')
    const { entries, inserted } = await backfillFeed(h.sql, follower.user.id, author.user.id, {
      count: 10,
      since: new Date(Date.now() - 90 * DAY_MS),
    })
    expect(entries.map((e) => e.postId)).toEqual([...recent].reverse())
    expect(inserted).toBe(2)
    expect(await entriesOf(old)).toBe(6)
  })

  it('deletes the entries past the retention in batches and keeps the others, and old finished jobs', async () => {
    await h.sql`
      insert into fanout_jobs (post_id, author_id, started_at, finished_at) values
        (${old[0] as string}, ${author.user.id}, now() - interval '9 days', now() - interval '8 days'),
        (${recent[1] as string}, ${author.user.id}, now(), now())`
    expect(await entriesOf(old)).toBe(6)
    const retention = createReadModelRetention({
      sql: h.sql,
      logger: createLogger({ service: 'feed-test', level: 'silent' }),
      retentionDays: 90,
      intervalMs: 3_600_000,
      // Smaller than what there is to delete: several statements per partition.
      batchSize: 1,
    })
    expect(await retention.runOnce()).toEqual({ feedEntries: 6, fanoutJobs: 1 })
    expect(await entriesOf(old)).toBe(0)
    // the three readers' and the late follower's (the backfill test above)
    expect(await entriesOf(recent)).toBe(8)
    const jobs = await h.sql<{ post_id: string }[]>`select post_id from fanout_jobs`
    expect(jobs.map((j) => j.post_id)).toEqual([recent[1]])

    // Nothing left to delete: a second run is a no-op.
    expect(await retention.runOnce()).toEqual({ feedEntries: 0, fanoutJobs: 0 })
  })
})
