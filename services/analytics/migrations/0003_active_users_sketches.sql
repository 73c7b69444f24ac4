-- Weekly and monthly active users estimated from one HyperLogLog sketch per UTC day (docs/analytics.md#weekly-and-
-- monthly-active-users), where the database has the hll extension (https://github.com/citusdata/postgresql-hll;
-- Debian's postgresql-15-hll here, the compose image's postgresql-17-hll). Without it, or without the right to create
-- it, nothing is made: the rollup step writes no sketches and the estimate route answers 501; every exact answer
-- stays as it is.
--
-- The extension is the database's, created once in `public` (on every service's search_path). Schemas of one
-- database migrate side by side (parallel tests), so its creation is serialised by an advisory lock.
do $$
begin
  perform pg_advisory_xact_lock(hashtext('analytics:create extension hll'));
  if not exists (select 1 from pg_extension where extname = 'hll') then
    if not exists (select 1 from pg_available_extensions where name = 'hll') then
      raise notice 'analytics: the hll extension is not installed; weekly and monthly estimates are off';
      return;
    end if;
    begin
      create extension hll with schema public;
    exception when insufficient_privilege then
      raise notice 'analytics: not allowed to create the hll extension; weekly and monthly estimates are off';
      return;
    end;
  end if;
  if (select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace
      where e.extname = 'hll') <> 'public' then
    raise notice 'analytics: the hll extension is in another schema than public; weekly and monthly estimates are off';
    return;
  end if;
  -- One sketch of the day's active users (2^14 registers of 5 bits: ~10 KB a day, a standard error of
  -- 1.04 / sqrt(2^14) = 0.81% in theory, 1.3% measured: docs/performance.md), written in the rollup step's transaction (rollup.ts). A union of 7 or 30 of them is
  -- the users active in those days, as if counted at once.
  execute format('create table %I.daily_user_sketches (
    day   date primary key,
    users public.hll not null
  )', current_schema());
end $$;
