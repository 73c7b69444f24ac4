-- One row per event shown in an account's feed; read newest first, so the index leads with the account.
create table feed_entries (
  id uuid primary key default gen_random_uuid(),
  account_id text not null,
  event_id uuid not null unique,
  event_type text not null,
  occurred_at timestamptz not null,
  summary jsonb not null default '{}'
);

create index feed_entries_account_recent on feed_entries (account_id, occurred_at desc);
