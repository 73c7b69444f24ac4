-- Payment facts and the orders derived from them (docs/adr/0007-webhook-ordering-rule.md).
--
-- Every fact is stored once, keyed by the provider's object id (ch_, re_, dp_), whatever order events arrive in.
-- When two events carry the same object, the copy from the smallest event id wins (ON CONFLICT ... WHERE), so the
-- stored fact does not depend on arrival order either. An order row is a pure function of its facts, recomputed
-- under a per-order lock after every change.
create table payments (
  charge_id   text primary key,
  order_id    text not null,
  amount      bigint not null,
  currency    text not null,
  created_at  timestamptz not null,
  event_id    text not null,
  recorded_at timestamptz not null default now()
);
create index payments_order_id on payments (order_id);

create table refunds (
  refund_id   text primary key,
  charge_id   text not null,
  order_id    text not null,
  amount      bigint not null,
  currency    text not null,
  created_at  timestamptz not null,
  event_id    text not null,
  recorded_at timestamptz not null default now()
);
create index refunds_order_id on refunds (order_id);

create table disputes (
  dispute_id  text primary key,
  charge_id   text not null,
  order_id    text not null,
  amount      bigint not null,
  currency    text not null,
  reason      text,
  created_at  timestamptz not null,
  event_id    text not null,
  recorded_at timestamptz not null default now()
);
create index disputes_order_id on disputes (order_id);

create table orders (
  order_id        text primary key,
  -- pending (facts but no charge yet), paid, partially_refunded, refunded, disputed (wins over the others)
  status          text not null
                  check (status in ('pending', 'paid', 'partially_refunded', 'refunded', 'disputed')),
  charge_id       text,
  amount          bigint,
  currency        text,
  paid_at         timestamptz,
  refunded_amount bigint not null default 0,
  disputed        boolean not null default false
);

-- One row per webhook event processed (any source): what was done, for operators and the simulated source.
create table processed_events (
  id           uuid primary key,
  source       text not null,
  event_id     text not null,
  event_type   text not null,
  result       jsonb not null,
  processed_at timestamptz not null default now()
);

-- Downstream notifications that were answered 2xx; the notify consumer checks here before calling again.
create table downstream_notifications (
  message_id   text primary key,
  order_id     text not null,
  status_code  integer not null,
  delivered_at timestamptz not null default now()
);
