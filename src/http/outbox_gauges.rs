//! The outbox's backlog and the age of its oldest row, as `/ready` and `/metrics` show them:
//! one store read at a time whoever asks, reused while fresh. On PostgreSQL the backlog is a
//! `count(*)`; a read the probe's timeout gave up on still runs and holds a pool connection,
//! so without this a flood of unauthenticated probes during an outage (a large backlog, a slow
//! database) could take the pool from the users' writes.
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use parking_lot::Mutex;

use crate::store::Store;

/// What the outbox gauges show, from one store read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxReading {
    /// Rows waiting to be published.
    pub backlog: u64,
    /// When the oldest row waiting was written (ms since the epoch); `None`: none waits.
    pub oldest_ms: Option<i64>,
    /// Rows parked: they can never be published as they are (too large for the topic, or
    /// without an identity), and stay until an operator deals with them.
    pub parked: u64,
}

/// A reading; `None`: the store could not be read.
pub(super) type Gauges = Option<OutboxReading>;

/// How long a reading answers for: probes and scrapes come seconds apart, a flood many times
/// a second.
pub(super) const FRESH: Duration = Duration::from_millis(250);

/// How long a caller waits for a reading: a database that does not answer must not hang the
/// probes. Below a Kubernetes probe's default timeout of 1 s.
pub(super) const STORE_WAIT: Duration = Duration::from_millis(500);

/// How old the last reading may be and still stand in for one that is slow (a `count(*)` of a
/// large outbox on a loaded database): a scraper's alert on the backlog must not resolve for
/// want of a figure in the very outage it watches. Past it, the gauges are left out.
pub(super) const STAND_IN_FOR: Duration = Duration::from_secs(60);

/// The last reading and the one under way.
#[derive(Default)]
pub(super) struct OutboxGauges {
    state: Mutex<Readings>,
}

impl std::fmt::Debug for OutboxGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxGauges").finish_non_exhaustive()
    }
}

/// A reading: when it finished, and what it read.
type Reading = (Instant, Gauges);

#[derive(Default)]
struct Readings {
    /// The last reading taken.
    last: Option<Reading>,
    /// The reading under way, which every caller awaits.
    under_way: Option<Shared<BoxFuture<'static, Reading>>>,
}

impl OutboxGauges {
    /// The gauges from `read` over `store`: the last reading while fresh, else the one under
    /// way, else a new one on the blocking pool. One that takes longer than [`STORE_WAIT`] is
    /// not waited for: the last reading stands in for it for [`STAND_IN_FOR`], then `None`.
    pub async fn read(&self, store: &Arc<dyn Store>, read: fn(&dyn Store) -> Gauges) -> Gauges {
        // Twice at most: a reading found under way may have finished long ago, with every
        // caller that waited for it gone; then a new one.
        let mut gauges = None;
        for _ in 0..2 {
            let reading = {
                let mut state = self.state.lock();
                if let Some((at, fresh)) = state.last
                    && at.elapsed() < FRESH
                {
                    return fresh;
                }
                state
                    .under_way
                    .get_or_insert_with(|| {
                        let store = Arc::clone(store);
                        let task = tokio::task::spawn_blocking(move || {
                            let gauges = read(&*store);
                            (Instant::now(), gauges)
                        });
                        async move { task.await.unwrap_or((Instant::now(), None)) }
                            .boxed()
                            .shared()
                    })
                    .clone()
            };
            let Ok((finished, read_now)) = tokio::time::timeout(STORE_WAIT, reading.clone()).await
            else {
                return self.stand_in();
            };
            {
                let mut state = self.state.lock();
                if state.under_way.as_ref().is_some_and(|r| r.ptr_eq(&reading)) {
                    state.under_way = None;
                }
                if state.last.is_none_or(|(at, _)| at < finished) {
                    state.last = Some((finished, read_now));
                }
            }
            gauges = read_now;
            if finished.elapsed() < FRESH {
                break;
            }
        }
        gauges
    }

    /// The last reading, when it is recent enough to stand in for a slow one.
    fn stand_in(&self) -> Gauges {
        self.state
            .lock()
            .last
            .filter(|(at, _)| at.elapsed() < STAND_IN_FOR)
            .and_then(|(_, gauges)| gauges)
    }
}

#[cfg(test)]
mod tests;
