-- usercenter schema, version 1. Applied by `usercenter migrate` and at start (src/pgstore/migrate.rs)
-- under an advisory lock, once per database; never edit a released migration, add the next one.

-- Accounts. Username and e-mail are unique ignoring case: the index is the rule, so two
-- instances registering the same name at once cannot both commit.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text   NOT NULL,
    email         text   NOT NULL,
    nickname      text,
    avatar_url    text,
    status        text   NOT NULL,
    role          text   NOT NULL,
    password_hash text   NOT NULL,
    created_ms    bigint NOT NULL,
    updated_ms    bigint NOT NULL,
    last_login_ms bigint
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Sessions under the SHA-256 of their token; gone with their user.
CREATE TABLE sessions (
    token_hash bytea  PRIMARY KEY,
    user_id    uuid   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_ms bigint NOT NULL,
    expires_ms bigint NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id, token_hash);

-- Records to publish, in sequence order (the relay reads them from the smallest seq on).
CREATE TABLE outbox (
    seq           bigint  PRIMARY KEY CHECK (seq >= 0),
    topic         text    NOT NULL,
    key           bytea,
    value         bytea   NOT NULL,
    header_names  text[]  NOT NULL,
    header_values bytea[] NOT NULL,
    created_ms    bigint  NOT NULL
);

-- Records that can never be published (too large), kept for operators.
CREATE TABLE outbox_parked (LIKE outbox INCLUDING ALL);

-- The consumer's next offset per partition.
CREATE TABLE consumer_offsets (
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- Dedupe marks: a record's dedupe key, when it was handled and its event id.
CREATE TABLE dedupe (
    key        bytea  PRIMARY KEY,
    seen_ms    bigint NOT NULL,
    event_id   uuid
);

-- How many times each event's handler effects were applied (an audit: always 1).
CREATE TABLE event_log (
    event_id bytea   PRIMARY KEY,
    applied  bigint  NOT NULL CHECK (applied >= 0)
);

-- Small named values: counters (outbox.next_seq, producer.next_seq), handler state, fences.
CREATE TABLE meta (
    name  bytea PRIMARY KEY,
    value bytea NOT NULL
);
