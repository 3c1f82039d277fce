//! The outbox relay lease: one row (`relay_lease`, migration 4) with a holder, an epoch and
//! an expiry, taken and renewed with one statement on a connection of its own.
//!
//! - A holder renews it before a relay round, unless it did within [`RENEWED_FOR`] on a session
//!   that is still open; the term is [`TERM`].
//! - It is free when it expired (a frozen holder: SIGSTOP, a paused VM) or when the holder's
//!   lease session is gone (a dead process: its connection closed, so its backend pid left
//!   `pg_stat_activity`), so a killed holder is replaced at once and a frozen one within the
//!   term.
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
//! - Its session commits without waiting for the WAL flush (`synchronous_commit = off`): a
//!   renewal is a round trip, not a round trip and an fsync. A renewal lost in a crash of the
//!   database does not matter: the crash ended every session, so the lease is free (the
//!   holder's backend is gone) whatever the row says.
//! - A session holds the lease under a name of its own, new with every connection: a holder
//!   that reconnected takes the lease again only with a new epoch, so its relay starts again
//!   from the oldest row, even where the restarted database gave the new backend the pid the
//!   row names.
//! - The time until which the holder holds it for sure is measured on the holder's own
//!   monotonic clock from the moment it *sent* the statement: the server's clock starts the
//!   term later than that, so the holder's deadline is never past the server's expiry (clocks
//!   of the two machines are never compared).
use std::sync::Arc;

use futures::StreamExt;
use parking_lot::Mutex;
use tokio::{runtime::Handle, sync::Notify, time::Instant};
use tokio_postgres::{AsyncMessage, Client, Config, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::append_news;
use crate::store::{Hear, RelayLease, Result, StoreError};

/// The advisory lock that marks the database as in use by running instances ("usercinu").
pub const IN_USE_LOCK: i64 = 0x7573_6572_6369_6e75;

/// The channel a trigger on `outbox` notifies after every statement that wrote rows.
const OUTBOX_CHANNEL: &str = "usercenter_outbox";

/// How long a lease lasts after it was taken or last renewed.
pub const TERM: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a renewal answers for the relay rounds after it: a check within this of the last
/// renewal, on a session still open, returns that renewal without asking the database. A
/// busy relay runs several rounds per registration, and a renewal on each was the most run
/// statement of the e2e bench on PostgreSQL (10,708 of 115,776 statements in one run). The
/// holder's deadline stays the one measured from the renewal, so nothing is published later
/// than before; a holder whose session broke without its client noticing (no reset from the
/// network) starts rounds for this much longer before it asks and finds out.
pub const RENEWED_FOR: std::time::Duration = std::time::Duration::from_millis(250);

/// Takes the lease when it is free or ours, renews it when it is ours; returns the epoch when
/// this session holds it. `$1` the holder, `$2` the term in seconds.
const TAKE: &str = "\
INSERT INTO relay_lease AS l (id, holder, backend_pid, epoch, expires_at)
VALUES (1, $1, pg_backend_pid(), 1, clock_timestamp() + make_interval(secs => $2))
ON CONFLICT (id) DO UPDATE SET
    holder = EXCLUDED.holder,
    backend_pid = EXCLUDED.backend_pid,
    epoch = CASE
        WHEN l.holder = EXCLUDED.holder AND l.backend_pid = EXCLUDED.backend_pid
             AND l.expires_at > clock_timestamp() THEN l.epoch
        ELSE l.epoch + 1 END,
    expires_at = EXCLUDED.expires_at
WHERE (l.holder = EXCLUDED.holder AND l.backend_pid = EXCLUDED.backend_pid)
   OR l.expires_at <= clock_timestamp()
   OR NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = l.backend_pid)
RETURNING epoch";

/// The lease and its connection.
pub(super) struct Lease {
    config: Config,
    tls: MakeRustlsConnect,
    /// This process's id in the append news it sends, by which it skips its own when they
    /// come back (the lease is held under a name per session, [`Session::holder`]).
    sender: uuid::Uuid,
    session: Mutex<Session>,
    /// Woken on every notification of [`OUTBOX_CHANNEL`], when set: the relay's wake.
    outbox_wake: Mutex<Option<Arc<Notify>>>,
    /// Told of the appends other instances announce ([`append_news::CHANNEL`]), when set.
    hear: Mutex<Option<Hear>>,
}

/// The lease's connection and what it holds.
#[derive(Default)]
struct Session {
    client: Option<Client>,
    /// [`IN_USE_LOCK`] is held, shared (an instance) or exclusively (an operator's tool).
    marked: bool,
    /// [`TAKE`], prepared on this connection: a renewal is then one round trip, not two.
    take: Option<Statement>,
    /// The name this session holds the lease under (new with every connection).
    holder: uuid::Uuid,
    /// The last renewal that found the lease held, and when it was sent.
    renewed: Option<(Instant, RelayLease)>,
}

impl Lease {
    pub fn new(config: Config, tls: MakeRustlsConnect) -> Self {
        Self {
            config,
            tls,
            sender: uuid::Uuid::new_v4(),
            session: Mutex::new(Session::default()),
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

    /// The lease when this process holds it now; takes it when free. Blocks (a
    /// `spawn_blocking` thread).
    pub fn check(&self, handle: &Handle) -> Result<Option<RelayLease>> {
        let mut session = self.session.lock();
        if let Some(lease) = session.current() {
            return Ok(Some(lease));
        }
        let sent = Instant::now();
        let outcome = handle.block_on(async {
            let (client, marked, take, holder) = self.connect(&mut session, handle).await?;
            if !*marked {
                *marked = try_lock(client, "pg_try_advisory_lock_shared").await?;
            }
            if !*marked {
                // An operator's tool holds the database (a reset): no relaying meanwhile.
                return Ok(None);
            }
            let statement = match take {
                Some(statement) => statement.clone(),
                None => {
                    let prepared = client.prepare(TAKE).await.map_err(StoreError::Postgres)?;
                    take.insert(prepared).clone()
                }
            };
            take_lease(client, &statement, holder).await
        });
        match &outcome {
            Ok(lease) => session.renewed = lease.map(|lease| (sent, lease)),
            // Whatever went wrong, the session cannot be counted on: a new one next time.
            Err(_) => *session = Session::default(),
        }
        outcome
    }

    /// Marks the database as used by this process alone: fails (`false`) while any instance's
    /// lease session is open. Held until this store is dropped. For operators' tools.
    pub fn claim_exclusive(&self, handle: &Handle) -> Result<bool> {
        let mut session = self.session.lock();
        let outcome = handle.block_on(async {
            let (client, marked, ..) = self.connect(&mut session, handle).await?;
            *marked = try_lock(client, "pg_try_advisory_lock").await?;
            Ok(*marked)
        });
        if outcome.is_err() {
            *session = Session::default();
        }
        outcome
    }

    /// The session's client (connected when there is none or it closed), its mark, its
    /// prepared [`TAKE`] and its name as a holder.
    async fn connect<'s>(
        &self,
        session: &'s mut Session,
        handle: &Handle,
    ) -> Result<(
        &'s Client,
        &'s mut bool,
        &'s mut Option<Statement>,
        uuid::Uuid,
    )> {
        if session.client.as_ref().is_none_or(Client::is_closed) {
            let (c, mut connection) = self
                .config
                .connect(self.tls.clone())
                .await
                .map_err(StoreError::Postgres)?;
            let wake = self.outbox_wake.lock().clone();
            let hear = self.hear.lock().clone();
            // A renewal then answers without waiting for its WAL flush. Its durability does not
            // matter: a database that crashed lost every session, so the lease is free for
            // the next to ask whatever the row says, and this process asks again as a new
            // holder (a new epoch).
            let mut setup = String::from("SET synchronous_commit = off;");
            if wake.is_some() {
                setup.push_str(&format!("LISTEN {OUTBOX_CHANNEL};"));
            }
            if hear.is_some() {
                setup.push_str(&format!("LISTEN {};", append_news::CHANNEL));
            }
            let own = self.sender;
            // Drives the connection and hands its notifications to the relay's wake and to
            // whoever hears other instances' appends.
            handle.spawn(async move {
                let mut messages = futures::stream::poll_fn(|cx| connection.poll_message(cx));
                while let Some(Ok(message)) = messages.next().await {
                    let AsyncMessage::Notification(n) = message else {
                        continue;
                    };
                    match (n.channel(), &wake, &hear) {
                        (OUTBOX_CHANNEL, Some(wake), _) => wake.notify_one(),
                        (append_news::CHANNEL, _, Some(hear)) => {
                            for (topic, partition) in append_news::heard(n.payload(), own) {
                                hear(topic, partition);
                            }
                        }
                        _ => {}
                    }
                }
            });
            c.batch_execute(&setup)
                .await
                .map_err(StoreError::Postgres)?;
            *session = Session {
                client: Some(c),
                marked: false,
                take: None,
                holder: uuid::Uuid::new_v4(),
                renewed: None,
            };
        }
        let Session {
            client,
            marked,
            take,
            holder,
            ..
        } = session;
        let client = client
            .as_ref()
            .ok_or(StoreError::NotFound("the relay lease's connection"))?;
        Ok((client, marked, take, *holder))
    }
}

impl Session {
    /// The last renewal, while it answers for this check: sent within [`RENEWED_FOR`], on a
    /// connection that is still open.
    fn current(&self) -> Option<RelayLease> {
        let (sent, lease) = self.renewed?;
        let open = self.client.as_ref().is_some_and(|c| !c.is_closed());
        (open && sent.elapsed() < RENEWED_FOR).then_some(lease)
    }
}

/// Takes or renews the lease on `client` as `holder`, with `take` ([`TAKE`] prepared on it).
async fn take_lease(
    client: &Client,
    take: &Statement,
    holder: uuid::Uuid,
) -> Result<Option<RelayLease>> {
    let sent = Instant::now();
    let rows = client
        .query(take, &[&holder, &TERM.as_secs_f64()])
        .await
        .map_err(StoreError::Postgres)?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let epoch: i64 = row.try_get(0).map_err(StoreError::Postgres)?;
    Ok(Some(RelayLease {
        epoch: epoch.unsigned_abs(),
        until: sent + TERM,
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
