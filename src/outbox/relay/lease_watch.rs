//! The relay's view of its lease: a change of holder or epoch restarts it from the oldest row,
//! and nothing is written past the lease's end.
use tokio::time::Instant;
use tracing::info;

use super::{
    Relay,
    blocked::Scanned,
    publish::RoundOutcome,
    store_io::{ReadHealth, finish, lease},
};
use crate::store::RelayLease;

impl Relay {
    /// The lease when held. A change of holder or epoch restarts from the oldest row, whatever
    /// this instance knew before, once the rounds handed over are settled.
    pub(super) async fn lease(&mut self) -> Option<RelayLease> {
        let lease = lease(&self.store, &self.lease_checks).await;
        let epoch = lease.map(|l| l.epoch);
        if epoch != self.epoch {
            match epoch {
                Some(epoch) => info!(epoch, "outbox: relay lease taken"),
                None => info!("outbox: relay lease lost"),
            }
            self.epoch = epoch;
            // Reads that failed before are no reason to step aside from a lease taken since.
            self.reads = ReadHealth::default();
            // What the old epoch handed over and the producer still holds (a retry backing
            // off, a full window) is not written under the new one: the holder in between may
            // have published and deleted those rows. It fails unsent while the rounds settle.
            self.producer.send_until(Some(Instant::now()));
            let round = self.drain(RoundOutcome::default()).await;
            finish(self.deleting.take()).await;
            self.delete(&round);
            finish(self.deleting.take()).await;
            self.from = 0;
            self.caught_up = false;
            self.blocked.clear();
        }
        // What the producer holds is written only while the lease lasts: nothing at all once
        // it is lost.
        let until = lease.map_or_else(Instant::now, |l| l.until);
        self.producer.send_until(Some(until));
        lease
    }

    /// The lease when held, as [`Relay::lease`]; a holder with room for a round reads its
    /// rows meanwhile (two round trips to the store at once), and they are returned only if
    /// the lease was held without a break and the cursor did not move.
    pub(super) async fn lease_and_read(&mut self) -> (Option<RelayLease>, Option<Scanned>) {
        let before = (self.epoch, self.from);
        let reading =
            (before.0.is_some() && self.has_room() && !self.caught_up).then(|| self.start_read());
        let lease = self.lease().await;
        let Some(reading) = reading else {
            return (lease, None);
        };
        let rows = self.reads.rows(reading, before.1).await;
        (lease, ((self.epoch, self.from) == before).then_some(rows))
    }
}
