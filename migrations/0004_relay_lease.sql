-- usercenter schema, version 4: the outbox relay lease is a row with an expiry, so that a
-- frozen holder (SIGSTOP, a VM paused, a GC-like stall) loses it, and an epoch that every
-- hand-over bumps, so that a former holder can tell it lost it. It replaces a session-level
-- advisory lock, which a stopped process keeps for as long as its connection stays open.
CREATE TABLE relay_lease (
    id          smallint    PRIMARY KEY CHECK (id = 1),
    -- The holding process (a random id per process).
    holder      uuid        NOT NULL,
    -- The backend pid of the holder's lease connection: when that session is gone (the
    -- process died), the lease is free at once, without waiting for the expiry.
    backend_pid integer     NOT NULL,
    -- Bumped on every hand-over, and when a holder takes it again after it expired.
    epoch       bigint      NOT NULL,
    expires_at  timestamptz NOT NULL
);
