import { fileURLToPath } from 'node:url'
import { dlqName } from '@platform/messaging'
import { exposedMetrics, metricNamingProblems } from '@platform/metrics'
import { type RunningProcess, rabbitAdmin, startTsProcess } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, startWorkerHarness, type WorkerHarness } from './worker-harness.js'

/**
 * SIGKILL of the worker process (src/worker.ts, as `npm start` runs it) in the middle of a large fan-out: 5,000
 * followers in batches of 20, so stage 1 pages 250 times and stage 2 handles 250 batches. The process is killed as
 * soon as the first entries are written, then started again. Every follower must end with the post exactly once, in
 * user_feed and in the Redis timelines of the active ones, and no page may have been enqueued twice (the job's
 * cursor commits with each batch's outbox row, so a restart resumes after the last committed page): the batch
 * messages seen on the feed exchange hold every follower once.
 */
const WORKER = fileURLToPath(new URL('../src/worker.ts', import.meta.url))
const FOLLOWERS = 5000
const BATCH = 20

let h: WorkerHarness
const running: RunningProcess[] = []
beforeAll(async () => {
  h = await startWorkerHarness({ FEED_FANOUT_BATCH_SIZE: String(BATCH) }, { inProcessWorker: false })
})
afterAll(async () => {
  for (const worker of running) await worker.kill('SIGKILL')
  await h?.close()
})

function startWorker(): RunningProcess {
  const worker = startTsProcess(WORKER, { ...h.env.env, LOG_LEVEL: 'info', FEED_WORKER_PORT: '0' })
  running.push(worker)
  return worker
}

const entriesOf = async (postId: string) => h.count('user_feed', { post_id: postId })

describe('the feed worker killed with SIGKILL during a fan-out', () => {
  it('resumes where it stood: every follower gets the post exactly once, no page is enqueued twice', async () => {
    const author = await h.newUser('famous')
    const followers = await h.addFollowers(author.user.id, FOLLOWERS)
    const active = followers.filter((_, i) => i % 25 === 0)
    for (const id of active) await h.activate(id)

    const first = startWorker()
    await first.waitForOutput(/worker running/, 60_000)
    const postId = await h.post(author)
    const atKill = await eventually(
      async () => {
        const n = await entriesOf(postId)
        return n > 0 ? n : undefined
      },
      'the first entries of the fan-out',
      30_000,
    )
    expect(await first.kill('SIGKILL')).toBe('SIGKILL')
    // mid fan-out: the first batches were written, not all of them
    expect(atKill).toBeLessThan(FOLLOWERS + 1)

    const second = startWorker()
    await second.waitForOutput(/worker running/, 60_000)
    await eventually(async () => (await entriesOf(postId)) === FOLLOWERS + 1, 'every follower and the author', 60_000)

    const { sql } = h.env.schema
    const [row] = await sql<{ users: number; rows: number }[]>`
      select count(distinct user_id)::int as users, count(*)::int as rows from user_feed where post_id = ${postId}`
    expect(row).toEqual({ users: FOLLOWERS + 1, rows: FOLLOWERS + 1 })
    const missing = await sql`
      select f.follower_id from follows f where f.followee_id = ${author.user.id}
        and not exists (select 1 from user_feed u where u.user_id = f.follower_id and u.post_id = ${postId})`
    expect(missing).toHaveLength(0)
    // one batch per page of 20, however often stage 1 was interrupted and resumed
    const [job] = await sql<{ batches: number; followers: number; finished: boolean }[]>`
      select batches, followers, finished_at is not null as finished from fanout_jobs where post_id = ${postId}`
    expect(job).toEqual({ batches: FOLLOWERS / BATCH, followers: FOLLOWERS, finished: true })
    // ...and what went through the broker (a tap on the feed exchange): one batch message per page, each follower in
    // one of them. A message the relay published twice (killed between the broker's confirm and its delete) keeps
    // its id, so it counts once; a page enqueued twice would be a second message.
    const batches = new Map<string, string[]>()
    for (const m of await h.messages()) {
      if (m.routingKey === 'fanout.batch' && m.body.postId === postId && m.messageId) {
        batches.set(m.messageId, m.body.followerIds as string[])
      }
    }
    expect(batches.size).toBe(FOLLOWERS / BATCH)
    const recipients = [...batches.values()].flat()
    expect(recipients).toHaveLength(FOLLOWERS + 1)
    expect(new Set(recipients).size).toBe(FOLLOWERS + 1)

    for (const id of active) {
      await eventually(async () => (await h.timelineOf(id))?.length === 1, `the post in ${id}'s timeline`)
      expect(await h.timelineOf(id)).toEqual([postId])
    }
    // nothing was given up on
    const admin = rabbitAdmin()
    for (const queue of ['feed.fanout', 'feed.fanout-batch']) {
      expect(await admin.getMessages(h.env.vhost.vhost, dlqName(queue), 5)).toHaveLength(0)
    }

    // the process's probes: ready (dependencies and every consumer), and its metrics by the platform's naming rules
    const url = /"url":"(http:[^"]+)".*metrics and health probes listening/.exec(second.output())?.[1]
    expect(url).toBeDefined()
    const ready = await fetch(`${url}/health/ready`)
    expect(ready.status).toBe(200)
    const { checks } = (await ready.json()) as { checks: Record<string, string> }
    expect(Object.keys(checks).sort()).toEqual(
      [
        'feed.fanout',
        'feed.fanout-batch',
        'feed.follows',
        'feed.likes',
        'outboxRelay',
        'postgres',
        'rabbitmq',
        'redis',
      ].sort(),
    )
    const exposition = await (await fetch(`${url}/metrics`)).text()
    expect(exposition).toMatch(/^feed_fanout_lag_seconds_count\{[^}]*path="push"[^}]*\} [1-9]/m)
    expect(exposition).toMatch(/^feed_entries_written_total\{[^}]*store="postgres",source="fanout"[^}]*\} [1-9]/m)
    expect(metricNamingProblems(exposedMetrics(exposition))).toEqual([])
    expect(await second.kill('SIGTERM')).toBe(0)
  })
})
