import { randomUUID } from 'node:crypto'
import { postCreated } from '@platform/contracts'
import { connectBroker, createPublisher, dlqName, HEADERS } from '@platform/messaging'
import { rabbitAdmin, waitFor } from '@platform/testing'
import { v7 as uuidv7 } from 'uuid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, startWorkerHarness, type WorkerHarness } from './worker-harness.js'

/**
 * A poison event: a post.created whose post does not exist (a producer's bug, or an event published by hand). The
 * fan-out stage refuses it with a PermanentError, and the consumer puts it in feed.fanout's DLQ at once, with the
 * reason in its headers, instead of retrying what no retry fixes. Once the cause is fixed (here: the post is
 * written), an operator moves it back with the management UI's "Move messages" (a shovel), and it is processed
 * exactly once.
 */
let h: WorkerHarness
const admin = rabbitAdmin()
beforeAll(async () => {
  h = await startWorkerHarness()
})
afterAll(async () => {
  await h?.close()
})

/** consumer_messages_total of feed.fanout by outcome, from the worker's registry. */
async function outcomes(): Promise<Record<string, number>> {
  const registry = h.workerRuntime?.registry
  if (!registry) throw new Error('the worker runs in this process')
  const metric = await registry.getSingleMetric('consumer_messages_total')?.get()
  const result: Record<string, number> = {}
  for (const v of metric?.values ?? []) {
    if (v.labels.queue === 'feed.fanout') result[String(v.labels.outcome)] = v.value
  }
  return result
}

describe('a poison post.created', () => {
  it('goes to the DLQ with its reason and, moved back once its cause is fixed, is processed once', async () => {
    const author = await h.newUser('ghostwriter')
    const reader = await h.newUser('reader')
    await h.follow(reader, author.user.id)
    await eventually(async () => (await h.count('follows', { follower_id: reader.user.id })) === 1, 'the follow')

    const createdAt = new Date()
    const postId = uuidv7({ msecs: createdAt.getTime() })
    const broker = connectBroker({ url: h.env.vhost.amqpUrl, name: 'test-producer' })
    const publisher = createPublisher(broker, { exchanges: [postCreated.exchange] })
    try {
      await publisher.publishMessage(
        postCreated,
        { postId, authorId: author.user.id, createdAt: createdAt.toISOString() },
        { messageId: randomUUID() },
      )
    } finally {
      await publisher.close()
      await broker.close()
    }

    const dlq = dlqName('feed.fanout')
    const [dead] = await waitFor(
      async () => {
        const got = await admin.getMessages(h.env.vhost.vhost, dlq, 1)
        return got.length === 1 ? got : undefined
      },
      { message: 'the poison message in the DLQ' },
    )
    expect(dead?.properties.headers?.[HEADERS.error]).toBe(`PermanentError: unknown post ${postId}`)
    expect(dead?.properties.headers?.[HEADERS.attempts]).toBe(1) // not retried: no retry would help
    expect(dead?.properties.headers?.[HEADERS.deadLetteredBy]).toBe('feed.fanout')
    expect(await outcomes()).toMatchObject({ dead: 1 })
    expect(await h.count('user_feed', { post_id: postId })).toBe(0)

    // the fix: the post exists (as its command would have written it)
    await h.env.schema.sql`
      insert into posts (id, author_id, text, created_at) values (${postId}, ${author.user.id}, 'late', ${createdAt})`
    await admin.moveMessages(h.env.vhost.vhost, dlq, 'feed.fanout')
    await eventually(async () => (await h.count('user_feed', { post_id: postId })) === 2, 'the replayed fan-out')
    await waitFor(async () => (await admin.shovels(h.env.vhost.vhost)).length === 0, { timeoutMs: 20_000 })
    await new Promise((resolve) => setTimeout(resolve, 500))

    expect((await h.feedOf(reader.user.id)).filter((id) => id === postId)).toHaveLength(1)
    expect(await h.feedOf(author.user.id)).toContain(postId)
    await eventually(async () => (await outcomes()).ack === 1, 'the replay acked')
    // outcome series start at 0 (packages/messaging), so a retry of 0 is listed: processed once, never retried
    expect(await outcomes()).toEqual({ ack: 1, retry: 0, dead: 1 })
    const [job] = await h.env.schema.sql<{ batches: number; finished: boolean }[]>`
      select batches, finished_at is not null as finished from fanout_jobs where post_id = ${postId}`
    expect(job).toEqual({ batches: 1, finished: true })
    expect(await admin.getMessages(h.env.vhost.vhost, dlq, 1)).toHaveLength(0)
  })
})
