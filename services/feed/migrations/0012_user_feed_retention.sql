-- Retention of the read model (docs/feed.md#retention): the worker deletes user_feed entries older than
-- FEED_RETENTION_DAYS (services/feed/src/projections/prune-feed-entries.ts), which without it grows by every
-- follower of every post forever. Entries arrive roughly in created_at order (a fan-out writes a post's entries when
-- it is created; a follow's backfill adds a few older ones), so a BRIN index, a few pages per partition, finds the
-- old ranges without a B-tree that every fan-out insert would have to maintain.
create index user_feed_created_at on user_feed using brin (created_at);
