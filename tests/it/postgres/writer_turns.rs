//! Which producer ids wrote each partition of the relay's topics, read from the broker: the
//! relays of several instances must take turns with the relay lease, so no partition changes
//! writer more often than the lease changed hands. Independent of timing, so it also sees a
//! former holder that wrote once, right after it woke.
use std::collections::BTreeMap;

use testkit::pg_serve::writers;

use super::load::PARTITIONS;

/// The topics the relay writes.
pub(crate) const TOPICS: [&str; 3] = ["user.events", "user.notifications", "user.analytics"];

/// Who wrote the relay's topics, read from the record batches' producer ids (each instance's
/// Kafka producer has its own).
pub(crate) struct Writers {
    /// Records written per producer id.
    pub(crate) records: BTreeMap<i64, usize>,
    /// The most turns of writers in one partition (a run of batches by one producer id is a
    /// turn).
    pub(crate) most_turns: usize,
    /// The relay lease's epoch at the end: one more than the times it changed hands (or was
    /// taken again after it expired).
    pub(crate) epoch: i64,
}

/// Checks that the relays took turns: no partition of [`TOPICS`] changed writer more often
/// than the relay lease changed hands. Two relays writing at once would take turns in a
/// partition with every round; a former holder writing behind its successor, once more than
/// the lease changed hands.
pub(crate) async fn writer_turns(db: &tokio_postgres::Client, broker: &str) -> Writers {
    let epoch: i64 = db
        .query_one("SELECT epoch FROM relay_lease", &[])
        .await
        .unwrap()
        .get(0);
    let (mut records, mut most_turns) = (BTreeMap::new(), 0);
    for topic in TOPICS {
        for p in 0..PARTITIONS {
            let runs = writers(broker, topic, p).await;
            assert!(
                runs.len() as i64 <= epoch,
                "{topic}/{p} changed writers more often than the relay lease changed hands \
                 (epoch {epoch}): {runs:?}"
            );
            most_turns = most_turns.max(runs.len());
            for (producer, n) in runs {
                *records.entry(producer).or_default() += n;
            }
        }
    }
    Writers {
        records,
        most_turns,
        epoch,
    }
}

impl std::fmt::Display for Writers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "records written per producer id {:?}, at most {} writers in turn in a partition, \
             relay lease epoch {}",
            self.records, self.most_turns, self.epoch
        )
    }
}
