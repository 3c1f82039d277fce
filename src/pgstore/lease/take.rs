//! The round trip that takes or renews the lease, and what it tells the taker: whether it
//! holds the lease, until when for sure, and how long it must still wait before it relays
//! when it took the lease from a holder whose session the database lost.
use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::{Client, Row, Statement};

use super::{RelayLease, TERM};
use crate::{
    pgstore::{
        columns::Param,
        pipeline::{self, Answer, Request},
    },
    store::{Result, StoreError},
};

/// Locks the lease's row and reads who held it and how much of their term was left by the
/// server's clock (none once expired), for [`TAKE`] to act on in the same transaction.
const READ_HELD: &str = "\
SELECT holder, greatest(extract(epoch FROM expires_at - clock_timestamp()), 0)::float8
FROM relay_lease WHERE id = 1 FOR UPDATE";

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

/// [`READ_HELD`] and [`TAKE`], prepared on the lease's connection: a renewal is then one
/// round trip, not three.
pub(super) struct Statements {
    read_held: Statement,
    take: Statement,
}

impl Statements {
    pub async fn prepare(client: &Client) -> Result<Self> {
        let (read_held, take) = futures::try_join!(client.prepare(READ_HELD), client.prepare(TAKE))
            .map_err(StoreError::Postgres)?;
        Ok(Self { read_held, take })
    }
}

/// What a take told its taker.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Taken {
    /// The lease, when this session holds it.
    pub lease: Option<RelayLease>,
    /// When it was taken from another process's holder whose session the database lost
    /// before its term ran out: the time before which that holder may still be relaying by
    /// its own clock, on this process's monotonic clock.
    pub relay_from: Option<Instant>,
}

/// A holder's name: the first half this process's `sender` (every session of the process
/// shares it), the second half new for each session.
pub(super) fn holder_name(sender: uuid::Uuid) -> uuid::Uuid {
    let mut name = *uuid::Uuid::new_v4().as_bytes();
    name[..8].copy_from_slice(&sender.as_bytes()[..8]);
    uuid::Uuid::from_bytes(name)
}

/// Whether `holder` is a name one of this process's sessions held the lease under.
pub(super) fn is_ours(sender: uuid::Uuid, holder: uuid::Uuid) -> bool {
    holder.as_bytes()[..8] == sender.as_bytes()[..8]
}

/// How long a take must wait for the holder `held` it found, whose term had `seconds` left by
/// the server's clock: nothing for a holder of this process (`sender`), unless its session was
/// `abandoned` by a take whose answer never came. That take may have committed, taking the
/// lease from another process's holder that relays on by its own clock: the row it left says
/// how long that can be (the old holder's end is before the abandoned take's).
pub(super) fn wait_for(
    sender: uuid::Uuid,
    abandoned: &[uuid::Uuid],
    held: uuid::Uuid,
    seconds: f64,
) -> Duration {
    if is_ours(sender, held) && !abandoned.contains(&held) {
        return Duration::ZERO;
    }
    // The old holder's own end is at most a term after its last renewal was sent.
    Duration::try_from_secs_f64(seconds)
        .unwrap_or(Duration::ZERO)
        .min(TERM)
}

/// Takes or renews the lease on `client` as `holder`, a session of the process `sender`, in
/// one round trip: `BEGIN`, [`READ_HELD`], [`TAKE`], `COMMIT`.
///
/// The lease is free when its holder's backend is gone from `pg_stat_activity`. That does not
/// prove the holder's process is gone: the database ends every session when it restarts or
/// fails over, and an administrator may end one, while the process runs on and relays until
/// its lease's end by its own clock (up to [`TERM`] after its last renewal). So a take from
/// another process's holder whose term had time left by the server's clock says how long:
/// measured from when the answer arrived (after the server read it), that time is past the
/// old holder's end, which its own clock started before the server did. A holder of this
/// process is not waited for: its relay stops what it handed over under the old epoch when it
/// sees the new one, before it hands anything over under it. Unless it is one of `abandoned`:
/// a session dropped after a take whose answer never came ([`wait_for`]).
pub(super) async fn take_lease(
    client: &Client,
    statements: &Statements,
    holder: uuid::Uuid,
    sender: uuid::Uuid,
    abandoned: &[uuid::Uuid],
) -> Result<Taken> {
    let params: [Param; 2] = [Box::new(holder), Box::new(TERM.as_secs_f64())];
    let sent = Instant::now();
    let answers = pipeline::send(
        client,
        vec![
            Request::Simple("BEGIN"),
            Request::Statement(statements.read_held.clone(), &[]),
            Request::Statement(statements.take.clone(), &params),
            Request::Simple("COMMIT"),
        ],
    )
    .await;
    let received = Instant::now();
    let [_, held, taken, _] = answered(answers)?;
    let Some(row) = taken.first() else {
        return Ok(Taken::default());
    };
    let epoch: i64 = row.try_get(0).map_err(StoreError::Postgres)?;
    let lease = RelayLease {
        epoch: epoch.unsigned_abs(),
        until: sent + TERM,
    };
    let left = match held.first() {
        Some(row) => wait_for(
            sender,
            abandoned,
            row.try_get(0).map_err(StoreError::Postgres)?,
            row.try_get(1).map_err(StoreError::Postgres)?,
        ),
        None => Duration::ZERO,
    };
    Ok(Taken {
        lease: Some(lease),
        relay_from: (!left.is_zero()).then(|| received + left),
    })
}

/// The four answers of [`take_lease`], or the first error among them.
fn answered(answers: Vec<Answer>) -> Result<[Vec<Row>; 4]> {
    let rows = answers
        .into_iter()
        .collect::<std::result::Result<Vec<Vec<Row>>, _>>()
        .map_err(StoreError::Postgres)?;
    rows.try_into()
        .map_err(|_| StoreError::NotFound("an answer to each relay lease statement"))
}
