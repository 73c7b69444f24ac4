import { v4 as uuidv4, v7 as uuidv7 } from 'uuid'
import { describe, expect, it } from 'vitest'
import { FEED_SHARDS, groupByShard, shardOf, shardTag, userTag } from '../src/shards.js'
import { authorPostsKey, hotBucketKeys, hotLikesKey, hourOf, timelineKey } from '../src/timelines/keys.js'

describe('shardOf', () => {
  it('is a pure function of the id: case and hyphens do not matter', () => {
    const id = uuidv7()
    expect(shardOf(id)).toBe(shardOf(id))
    expect(shardOf(id.toUpperCase())).toBe(shardOf(id))
    expect(shardOf(id.replace(/-/g, ''))).toBe(shardOf(id))
  })

  it('spreads UUIDv7 made in the same millisecond over every shard (it hashes all bytes, not the time)', () => {
    const msecs = Date.parse('2026-01-01T00:00:00Z')
    const counts = new Array<number>(FEED_SHARDS).fill(0)
    for (let i = 0; i < 16_000; i++) counts[shardOf(uuidv7({ msecs }))]! += 1
    // 1,000 expected per shard; a hash of the time prefix alone would put all in one
    for (const n of counts) expect(n).toBeGreaterThan(800)
    for (const n of counts) expect(n).toBeLessThan(1200)
  })

  it('stays in range for any text', () => {
    for (const id of ['', 'x', 'not-a-uuid', uuidv4()]) {
      expect(shardOf(id)).toBeGreaterThanOrEqual(0)
      expect(shardOf(id)).toBeLessThan(FEED_SHARDS)
    }
  })
})

describe('keys', () => {
  it('put the shard tag of the user in every per-user key, so a shard is one Redis Cluster slot', () => {
    const id = uuidv7()
    expect(userTag(id)).toBe(shardTag(shardOf(id)))
    expect(shardTag(7)).toBe('{s07}')
    expect(timelineKey(id)).toBe(`feed:${userTag(id)}:tl:${id}`)
    expect(authorPostsKey(id)).toBe(`feed:${userTag(id)}:ap:${id}`)
  })

  it('name the 24 hourly buckets of the hot window, newest first, all under one tag', () => {
    const now = Date.parse('2026-01-02T10:30:00Z')
    const keys = hotBucketKeys(now)
    expect(keys).toHaveLength(24)
    expect(keys[0]).toBe(hotLikesKey(hourOf(now)))
    expect(keys[23]).toBe(hotLikesKey(hourOf(now) - 23))
    for (const key of keys) expect(key).toMatch(/^feed:\{hot\}:likes:\d+$/)
  })

  it('groupByShard keeps every id once, in order within its shard', () => {
    const ids = Array.from({ length: 100 }, () => uuidv7())
    const groups = groupByShard(ids, (id) => id)
    expect([...groups.values()].flat().sort()).toEqual([...ids].sort())
    for (const [shard, group] of groups) for (const id of group) expect(shardOf(id)).toBe(shard)
  })
})
