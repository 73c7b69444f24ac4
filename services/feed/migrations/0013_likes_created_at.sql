-- The hot feed's buckets rebuilt from likes (services/feed/src/queues/hot-likes-rebuild.ts) after Redis lost them:
-- the likes of the last 25 hours. Likes are inserted as they are made, so created_at follows the table's physical
-- order and a BRIN index (a few pages) finds the window's block ranges, without a B-tree that every like would have
-- to maintain for a read that happens only after Redis lost its data. Unlikes delete rows whose space VACUUM gives
-- to new likes, which widens the ranges over time: the read then scans more blocks, never answers wrong.
-- Built in the migration's transaction (no CONCURRENTLY there): likes and unlikes wait for one pass over the table,
-- about a second per few million likes.
create index likes_created_at on likes using brin (created_at);
