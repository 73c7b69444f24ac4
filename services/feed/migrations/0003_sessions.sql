-- Sessions and their refresh tokens (docs/feed.md#tokens). A session is one login on one device: a family of
-- refresh tokens (RFC 9700 §4.14.2), each exchanged once for the next. The access tokens carry the session's id as
-- their `sid` claim. Times are written by the service (its clock), not by now(), so one clock decides every expiry.
create table sessions (
  -- UUIDv7, the access tokens' `sid`
  id uuid primary key,
  user_id uuid not null references users (id),
  -- the identity provider of the login that started it (identities.provider)
  provider text not null check (length(provider) between 1 and 64),
  -- what the client said and where it came from, for a user's list of sessions; never used to decide anything
  user_agent text check (length(user_agent) <= 512),
  ip text check (length(ip) <= 64),
  created_at timestamptz not null,
  -- the absolute lifetime: no refresh extends it (FEED_REFRESH_ABSOLUTE_TTL_S)
  expires_at timestamptz not null check (expires_at > created_at),
  last_refreshed_at timestamptz,
  -- a revoked family: every token of it, the newest included, is refused from then on
  revoked_at timestamptz,
  revoked_reason text check (revoked_reason in ('logout', 'reuse')),
  check ((revoked_at is null) = (revoked_reason is null))
);

create index sessions_user on sessions (user_id);
-- The cleanup job deletes ended sessions (session-cleanup.ts).
create index sessions_expiry on sessions (expires_at);

create table refresh_tokens (
  -- SHA-256 of the token (256 random bits, base64url): the token itself is never stored. A hash of that much
  -- entropy needs no salt or slow KDF; a database read does not hand out working tokens.
  token_hash bytea primary key check (length(token_hash) = 32),
  session_id uuid not null references sessions (id) on delete cascade,
  -- the token this one replaced; null for the first token of a session
  parent_hash bytea check (length(parent_hash) = 32),
  created_at timestamptz not null,
  -- the idle lifetime: created_at + FEED_REFRESH_IDLE_TTL_S, never past the session's expires_at
  expires_at timestamptz not null,
  -- set when the token is exchanged; a rotated token presented again is a reuse
  rotated_at timestamptz
);

create index refresh_tokens_session on refresh_tokens (session_id);
-- One live (not yet rotated) token per family: two rotations of one token cannot both commit.
create unique index refresh_tokens_live on refresh_tokens (session_id) where rotated_at is null;
-- Finds the successor of a rotated token (the grace rule looks at it).
create index refresh_tokens_parent on refresh_tokens (parent_hash) where parent_hash is not null;
-- The cleanup job deletes rotated tokens past their own expiry.
create index refresh_tokens_rotated_expiry on refresh_tokens (expires_at) where rotated_at is not null;
