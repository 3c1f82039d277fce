//! The outbox relay lease: one row (`relay_lease`, migration 4) with a holder, an epoch and
//! an expiry, taken and renewed in one round trip on a connection of its own ([`take`],
//! [`session`]).
//!
//! - A holder renews it before a relay round, unless it did within [`RENEWED_FOR`] on a session
//!   that is still open; the term is [`TERM`].
//! - It is free when it expired (a frozen holder: SIGSTOP, a paused VM) or when the holder's
//!   lease session is gone (its backend pid left `pg_stat_activity`), so a frozen holder is
//!   replaced within the term and a killed one at once. A session gone does not prove its
//!   process gone, though: a restart or failover of the database ends every session while
//!   the instances run on, each relaying until its lease's end by its own clock. So one that
//!   takes the lease from another process's session that way relays only once the rest of
//!   that holder's term by the server's clock has passed on its own monotonic clock
//!   ([`take::take_lease`]); until then [`Lease::check`] says it does not hold it (it renews
//!   it all the same).
//! - Every hand-over bumps the epoch, and so does a holder taking it again after it expired:
//!   a holder compares epochs to know whether it held the lease without a break.
//! - The lease's session also marks the database as in use: it holds [`IN_USE_LOCK`] shared
//!   for as long as it lives (a frozen process too), and `usercenter group reset-offsets`
//!   takes it exclusively ([`Lease::claim_exclusive`]), so the reset and running instances
//!   exclude each other whatever the assignment mode. While a reset holds it, no instance
//!   takes the relay lease.
//! - The lease's session also listens on `usercenter_outbox`, which a trigger on `outbox`
//!   notifies (migration 5), and wakes the relay for rows another instance committed; and on
//!   `usercenter_appended`, where instances announce their appends to Kafka
//!   ([`super::append_news`]).
//! - Its session commits as every write does, waiting for the WAL flush (one per renewal):
//!   the row's expiry, which the next holder after a crash of the database waits for, is
//!   then never before the end of a term the holder was told it has.
//! - A session holds the lease under a name of its own, new with every connection: a holder
//!   that reconnected takes the lease again only with a new epoch, so its relay starts again
//!   from the oldest row, even where the restarted database gave the new backend the pid the
//!   row names.
//! - The time until which the holder holds it for sure is measured on the holder's own
//!   monotonic clock from the moment it *sent* the statement: the server's clock starts the
//!   term later than that, so the holder's deadline is never past the server's expiry (clocks
//!   of the two machines are never compared).
//! - A take or renewal that has no answer within [`ROUND_TRIP_LIMIT`] fails, and its session
//!   is dropped as after any error: the next check opens a new one. A failover that drops
//!   packets would otherwise hold the check, and the session's mutex with it, until TCP gives
//!   up ([`super::TCP_USER_TIMEOUT`]).
use std::{sync::Arc, time::Duration};

use parking_lot::Mutex;
use tokio::{runtime::Handle, sync::Notify, time::Instant};
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::{Hear, RelayLease, Result, StoreError};
use session::Session;

mod session;
mod take;
#[cfg(test)]
mod tests;

/// The advisory lock that marks the database as in use by running instances ("usercinu").
pub const IN_USE_LOCK: i64 = 0x7573_6572_6369_6e75;

/// The channel a trigger on `outbox` notifies after every statement that wrote rows.
const OUTBOX_CHANNEL: &str = "usercenter_outbox";

/// How long a lease lasts after it was taken or last renewed.
pub const TERM: Duration = Duration::from_secs(10);

/// How long a renewal answers for the relay rounds after it: a check within this of the last
/// renewal, on a session still open, returns that renewal without asking the database. A
/// busy relay runs several rounds per registration, and a renewal on each was the most run
/// statement of the e2e bench on PostgreSQL (10,708 of 115,776 statements in one run). The
/// holder's deadline stays the one measured from the renewal, so nothing is published later
/// than before; a holder whose session broke without its client noticing (no reset from the
/// network) starts rounds for this much longer before it asks and finds out.
pub const RENEWED_FOR: Duration = Duration::from_millis(250);

/// How long the statements of a check (the in-use lock, preparing the take, the take or
/// renewal itself) may wait for their answers on an open session before the check fails and
/// the session is dropped. A live database answers them in milliseconds; well below [`TERM`],
/// so that a holder whose renewal went unanswered still has most of its term by its own
/// clock, and a stuck session is replaced long before TCP would give up on it.
pub const ROUND_TRIP_LIMIT: Duration = Duration::from_secs(3);

/// How long opening the lease's session (connection, TLS, start-up, `LISTEN`) may take: as
/// long as the pool waits to open one of its own.
const CONNECT_LIMIT: Duration = super::POOL_WAIT;

/// The lease and its connection.
pub(super) struct Lease {
    config: Config,
    tls: MakeRustlsConnect,
    /// This process's id in the append news it sends, by which it skips its own when they
    /// come back; the first half of every name its sessions hold the lease under.
    sender: uuid::Uuid,
    state: Mutex<State>,
    /// Woken on every notification of [`OUTBOX_CHANNEL`], when set: the relay's wake.
    outbox_wake: Mutex<Option<Arc<Notify>>>,
    /// Told of the appends other instances announce ([`super::append_news::CHANNEL`]), when
    /// set.
    hear: Mutex<Option<Hear>>,
}

/// The session, and what outlives it.
#[derive(Default)]
struct State {
    session: Session,
    /// Until then the lease is not handed to the relay, though held: another process's holder
    /// it was taken from may relay until then by its own clock ([`take::Taken::relay_from`]).
    /// Kept when the session is dropped: that holder's term runs on regardless.
    relay_from: Option<Instant>,
    /// The names of sessions dropped after a take that failed on a session that did not hold
    /// the lease (or whose lease had lapsed), since the last take that held it (at most [`ABANDONED_KEPT`]): such a take
    /// may have committed unanswered, and a row under one of them is waited for as another
    /// process's would be.
    abandoned: Vec<uuid::Uuid>,
}

/// Abandoned session names kept (one per failed take; the database forgets a session's row
/// once another take replaces it).
const ABANDONED_KEPT: usize = 16;

impl Lease {
    pub fn new(config: Config, tls: MakeRustlsConnect) -> Self {
        Self {
            config,
            tls,
            sender: uuid::Uuid::new_v4(),
            state: Mutex::new(State::default()),
            outbox_wake: Mutex::new(None),
            hear: Mutex::new(None),
        }
    }

    /// This process's id: the sender of its append news.
    pub fn sender(&self) -> uuid::Uuid {
        self.sender
    }

    /// Tells `hear` of the appends other instances announce, from the next session on (set
    /// before the relay's first lease check).
    pub fn hear_appends(&self, hear: Hear) {
        *self.hear.lock() = Some(hear);
    }

    /// Wakes `wake` on every outbox commit of any instance, from the next session on (the
    /// relay sets it before its first lease check).
    pub fn wake_on_outbox_commits(&self, wake: Arc<Notify>) {
        *self.outbox_wake.lock() = Some(wake);
    }

    /// The lease when this process holds it now and may relay under it; takes it when free.
    /// Blocks (a `spawn_blocking` thread).
    pub fn check(&self, handle: &Handle) -> Result<Option<RelayLease>> {
        let mut state = self.state.lock();
        let lease = match state.session.current() {
            Some(lease) => Some(lease),
            None => {
                let sent = Instant::now();
                let State {
                    session, abandoned, ..
                } = &mut *state;
                let outcome = handle.block_on(self.take(session, abandoned, handle));
                let taken = match outcome {
                    Ok(taken) => taken,
                    Err(e) => {
                        // Whatever went wrong, the session cannot be counted on: a new one
                        // next time. A take sent on it by a session that did not hold the
                        // lease (or whose lease had lapsed by this process's clock) may have
                        // committed unanswered, taking it from another process; a renewal
                        // within the term finds its own session's row.
                        let renewal = state
                            .session
                            .renewed
                            .is_some_and(|(_, lease)| sent < lease.until);
                        let name = state.session.holder;
                        let connected = state.session.client.is_some();
                        if connected && !renewal && !state.abandoned.contains(&name) {
                            if state.abandoned.len() == ABANDONED_KEPT {
                                state.abandoned.remove(0);
                            }
                            state.abandoned.push(name);
                        }
                        state.session = Session::default();
                        return Err(e);
                    }
                };
                if taken.lease.is_some() {
                    state.abandoned.clear();
                }
                state.session.renewed = taken.lease.map(|lease| (sent, lease));
                if let Some(from) = taken.relay_from {
                    tracing::info!(
                        wait_ms = from.saturating_duration_since(Instant::now()).as_millis(),
                        "relay lease taken from another instance whose session the database \
                         ended; relaying once the rest of its term has passed"
                    );
                    state.relay_from = state.relay_from.max(Some(from));
                }
                taken.lease
            }
        };
        let waiting = state.relay_from.is_some_and(|from| Instant::now() < from);
        Ok(lease.filter(|_| !waiting))
    }

    /// Gives the lease up when this process's session holds it: its expiry is set to now, so
    /// the next instance to ask relays under it at once, not after the rest of the term (the
    /// relay stops gracefully and has settled everything it handed over). Blocks.
    pub fn release(&self, handle: &Handle) -> Result<()> {
        let mut state = self.state.lock();
        let holder = state.session.holder;
        state.session.renewed = None;
        let Some(client) = state.session.client.as_ref().filter(|c| !c.is_closed()) else {
            return Ok(());
        };
        handle.block_on(within(ROUND_TRIP_LIMIT, async {
            client
                .execute(
                    "UPDATE relay_lease SET expires_at = clock_timestamp() \
                     WHERE id = 1 AND holder = $1",
                    &[&holder],
                )
                .await
                .map_err(StoreError::Postgres)
        }))?;
        Ok(())
    }

    /// Takes or renews the lease on the session (opened when needed), within the limits.
    async fn take(
        &self,
        session: &mut Session,
        abandoned: &[uuid::Uuid],
        handle: &Handle,
    ) -> Result<take::Taken> {
        let parts = within(CONNECT_LIMIT, self.connect(session, handle)).await?;
        within(ROUND_TRIP_LIMIT, async {
            if !*parts.marked {
                *parts.marked = try_lock(parts.client, "pg_try_advisory_lock_shared").await?;
            }
            if !*parts.marked {
                // An operator's tool holds the database (a reset): no relaying meanwhile.
                return Ok(take::Taken::default());
            }
            if parts.statements.is_none() {
                *parts.statements = Some(take::Statements::prepare(parts.client).await?);
            }
            let statements = parts
                .statements
                .as_ref()
                .ok_or(StoreError::NotFound("the relay lease's statements"))?;
            take::take_lease(
                parts.client,
                statements,
                parts.holder,
                self.sender,
                abandoned,
            )
            .await
        })
        .await
    }

    /// Marks the database as used by this process alone: fails (`false`) while any instance's
    /// lease session is open. Held until this store is dropped. For operators' tools.
    pub fn claim_exclusive(&self, handle: &Handle) -> Result<bool> {
        let mut state = self.state.lock();
        let outcome = handle.block_on(async {
            let parts = within(CONNECT_LIMIT, self.connect(&mut state.session, handle)).await?;
            *parts.marked = within(
                ROUND_TRIP_LIMIT,
                try_lock(parts.client, "pg_try_advisory_lock"),
            )
            .await?;
            Ok(*parts.marked)
        });
        if outcome.is_err() {
            state.session = Session::default();
        }
        outcome
    }
}

/// `work`, failed when it has not finished within `limit`.
async fn within<T>(limit: Duration, work: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or(Err(StoreError::TimedOut {
            what: "the relay lease's session",
            limit,
        }))
}

/// `SELECT <function>(IN_USE_LOCK)`: whether the lock was granted.
async fn try_lock(client: &Client, function: &str) -> Result<bool> {
    client
        .query_one(&format!("SELECT {function}($1)"), &[&IN_USE_LOCK])
        .await
        .and_then(|r| r.try_get(0))
        .map_err(StoreError::Postgres)
}
