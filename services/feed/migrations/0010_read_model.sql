-- The query side of the feed (docs/feed.md#read-model-and-shards): the read model the fan-out worker writes
-- (services/feed/src/worker.ts) and GET /v1/feed reads. Reads never join follows: whom a user follows is already in
-- user_feed (small authors, fanned out on write) and in large_follows (large authors, merged at read time).

-- The placeholder of 0001, never used: user_feed replaces it.
drop table if exists feed_entries;

-- One row per post in a user's personal feed. Hash-partitioned by user_id: the logical shards of the read model
-- (16 partitions; a user's rows are all in one). The same column is the distribution column of a later Citus
-- cluster (create_distributed_table('user_feed', 'user_id')), so nothing in the queries changes when it moves.
-- No foreign keys: posts may live on another node then; a feed read joins posts and drops unknown or deleted ones.
create table user_feed (
  user_id uuid not null,
  -- UUIDv7, time-sortable: a page newest first is `where user_id = $1 and post_id < $cursor order by post_id desc`,
  -- one backward range scan of the primary key's index (a B-tree reads both ways; a second index on
  -- (user_id, post_id desc) would be the same scan at twice the write cost)
  post_id uuid not null,
  -- lets an unfollow remove the followee's posts without a join, and the merge tell authors apart
  author_id uuid not null,
  -- the post's creation time (posts.created_at), for the fan-out lag and pruning by age
  created_at timestamptz not null,
  primary key (user_id, post_id)
) partition by hash (user_id);

create table user_feed_p00 partition of user_feed for values with (modulus 16, remainder 0);
create table user_feed_p01 partition of user_feed for values with (modulus 16, remainder 1);
create table user_feed_p02 partition of user_feed for values with (modulus 16, remainder 2);
create table user_feed_p03 partition of user_feed for values with (modulus 16, remainder 3);
create table user_feed_p04 partition of user_feed for values with (modulus 16, remainder 4);
create table user_feed_p05 partition of user_feed for values with (modulus 16, remainder 5);
create table user_feed_p06 partition of user_feed for values with (modulus 16, remainder 6);
create table user_feed_p07 partition of user_feed for values with (modulus 16, remainder 7);
create table user_feed_p08 partition of user_feed for values with (modulus 16, remainder 8);
create table user_feed_p09 partition of user_feed for values with (modulus 16, remainder 9);
create table user_feed_p10 partition of user_feed for values with (modulus 16, remainder 10);
create table user_feed_p11 partition of user_feed for values with (modulus 16, remainder 11);
create table user_feed_p12 partition of user_feed for values with (modulus 16, remainder 12);
create table user_feed_p13 partition of user_feed for values with (modulus 16, remainder 13);
create table user_feed_p14 partition of user_feed for values with (modulus 16, remainder 14);
create table user_feed_p15 partition of user_feed for values with (modulus 16, remainder 15);

-- An unfollow deletes one author's rows from one user's feed.
create index user_feed_author on user_feed (user_id, author_id);

-- Large accounts (more than FANOUT_MAX_FOLLOWERS followers when they post): their posts are not fanned out but
-- merged into their followers' feeds at read time, from the author's recent-posts list in Redis (keys.ts), or from
-- posts_author (0004) when that list is missing. Once large, an author stays large (no flapping around the
-- threshold, and no post made in pull mode ever needs a late fan-out). Promotion pages through the author's
-- followers into large_follows; the cursor is where it stands (a crash resumes there).
create table large_authors (
  author_id uuid primary key,
  -- when the worker decided (the follower count then is in the log)
  since timestamptz not null,
  -- the promotion's keyset cursor over follows_followee: the last (created_at, follower_id) copied
  cursor_created_at timestamptz,
  cursor_follower_id uuid,
  -- set once every follower of the author had their large_follows row
  promoted_at timestamptz
);

-- Which large accounts a user follows: what a feed read merges (one index-only range scan per read, never a join
-- with follows). Kept by the worker on follow and unfollow, and filled by a promotion. Distributed by user_id
-- like user_feed when the read model moves to Citus (colocated: a user's feed query stays on one node).
create table large_follows (
  user_id uuid not null,
  author_id uuid not null,
  primary key (user_id, author_id)
);

-- The fan-out job of one post (two stages, docs/feed.md#fan-out-worker): where the paging through the author's
-- followers stands. Each page's follower batch is enqueued in the outbox in the same transaction that moves the
-- cursor, so a crash between pages neither loses a page nor publishes one twice.
create table fanout_jobs (
  post_id uuid primary key,
  author_id uuid not null,
  -- the last (created_at, follower_id) of follows_followee already batched; null before the first page
  cursor_created_at timestamptz,
  cursor_follower_id uuid,
  batches integer not null default 0,
  followers integer not null default 0,
  started_at timestamptz not null default now(),
  finished_at timestamptz
);
