-- The feed's accounts (docs/feed.md#login). A user is created by their first login through an identity provider and
-- is found again by the (provider, subject) pair of that login: never by an email address, which providers let
-- people change and some do not verify. A second provider joins an existing user only through the authenticated
-- link call, which adds a row to identities.
create table users (
  -- UUIDv7: time-sortable, made by the service (RFC 9562 §5.7)
  id uuid primary key,
  -- unique, lower case; made from the provider's profile, with a suffix where taken
  handle text not null unique check (handle ~ '^[a-z0-9_]{1,30}$'),
  name text not null check (length(name) between 1 and 100),
  avatar_url text check (length(avatar_url) <= 2048),
  -- kept by the follow and post commands in their transactions, so a profile is one row
  follower_count bigint not null default 0 check (follower_count >= 0),
  following_count bigint not null default 0 check (following_count >= 0),
  post_count bigint not null default 0 check (post_count >= 0),
  created_at timestamptz not null default now()
);

create table identities (
  -- a configured provider's name (FEED_AUTH_PROVIDERS_FILE), e.g. "google", "github", "dev"
  provider text not null,
  -- the provider's stable id of the account: the ID token's `sub`, GitHub's numeric user id
  subject text not null,
  user_id uuid not null references users (id),
  email text,
  email_verified boolean not null default false,
  created_at timestamptz not null default now(),
  last_login_at timestamptz not null default now(),
  primary key (provider, subject)
);

create index identities_user on identities (user_id);
