-- Event counts per UTC day and type: the first aggregate analytics serves. Consumers upsert into it.
create table daily_event_counts (
  day date not null,
  event_type text not null,
  event_count bigint not null default 0,
  updated_at timestamptz not null default now(),
  primary key (day, event_type)
);
