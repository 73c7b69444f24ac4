-- The write side of posts, likes and follows (docs/feed.md#commands), and the stored responses of the commands'
-- Idempotency-Key header. Each command changes these tables, its idempotency record and its outbox rows in ONE
-- transaction (services/feed/src/commands/). Times are written by the service's clock, except the idempotency
-- records' (the database's now(), which the expiry check also reads).

create table posts (
  -- UUIDv7 (RFC 9562 §5.7), made from created_at's millisecond: time-sortable, so feeds page on the id alone
  id uuid primary key,
  author_id uuid not null references users (id),
  -- NFC, trimmed, 1 to 500 code points (char_length counts code points), no control character but LF
  text text not null check (char_length(text) between 1 and 500),
  -- kept by the like and unlike commands in their transactions
  like_count bigint not null default 0 check (like_count >= 0),
  created_at timestamptz not null,
  -- posts are immutable; a moderated or withdrawn post is hidden, never rewritten (no command sets it yet)
  deleted_at timestamptz
);

-- An author's posts, newest first (profile pages, and the fan-out backfill of part 2).
create index posts_author on posts (author_id, id desc);

create table likes (
  user_id uuid not null references users (id),
  post_id uuid not null references posts (id),
  created_at timestamptz not null,
  -- one like per user and post; "liked by me" is a lookup of this key
  primary key (user_id, post_id)
);

create table follows (
  follower_id uuid not null references users (id),
  followee_id uuid not null references users (id),
  created_at timestamptz not null,
  primary key (follower_id, followee_id),
  check (follower_id <> followee_id)
);

-- The followers of a followee by keyset, newest first: (created_at, follower_id) is the cursor (encodeTimeIdCursor
-- of @platform/http), what a follower list and the fan-out worker page on. Whom a user follows is the primary key.
create index follows_followee on follows (followee_id, created_at desc, follower_id desc);

-- The Idempotency-Key of every command (IETF httpapi draft "The Idempotency-Key HTTP Header Field"), scoped to the
-- user: the first request with a key runs, and its response is stored here in the command's own transaction, so a
-- row exists exactly when the command's effect does. A crash, a rollback or a refused command (4xx) leaves no row,
-- and the key can be used again; no row is ever stuck "in progress" (src/idempotency/idempotency.ts).
create table idempotency_keys (
  user_id uuid not null,
  -- the header's value (an sf-string, without its quotes): printable ASCII
  key text not null check (key ~ '^[\x20-\x7e]{1,255}$'),
  -- SHA-256 of the method, the route and the request's normalised content: the same key with another request is a 422
  fingerprint bytea not null check (length(fingerprint) = 32),
  -- in_progress only inside the owning transaction (it is set to completed before the commit), so other sessions
  -- only ever see completed rows; the concurrent duplicate is told apart by an advisory lock, not by this column
  state text not null check (state in ('in_progress', 'completed')),
  response_status smallint check (response_status between 200 and 299),
  -- json, not jsonb: a replay sends the stored text as it was written
  response_body json,
  created_at timestamptz not null default now(),
  -- at least 24 h after created_at (FEED_IDEMPOTENCY_KEY_TTL_S); an expired row is reclaimed by the next request
  -- with its key, and deleted by the pruning job (src/idempotency/prune.ts)
  expires_at timestamptz not null check (expires_at >= created_at + interval '24 hours'),
  primary key (user_id, key),
  check ((state = 'completed') = (response_status is not null and response_body is not null))
);

create index idempotency_keys_expiry on idempotency_keys (expires_at);
