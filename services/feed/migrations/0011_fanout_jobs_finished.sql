-- The worker deletes finished fan-out jobs after a week (src/projections/prune-fanout-jobs.ts): a range scan of
-- this index, where a sequential scan would read a row per post of the week.
create index fanout_jobs_finished on fanout_jobs (finished_at) where finished_at is not null;
