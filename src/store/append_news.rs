//! Appends to Kafka that instances sharing one store tell each other of.
//!
//! The relay lease holder publishes every instance's outbox rows, and each instance's consumer
//! reads the partitions it was assigned. A broker that answers a waiting Fetch only at its next
//! look (Nisshi) would make a consumer wait for records another instance appended; our own
//! appends prompt our fetch lanes at once (`kafka::Client::appended`). Through the store, the
//! holder's appends prompt the other instances' lanes too.
use std::sync::Arc;

/// A partition appended to: topic and partition.
pub type Appended = (Arc<str>, i32);

/// What hears the appends other instances announce.
pub type Hear = Arc<dyn Fn(&str, i32) + Send + Sync>;

/// How instances sharing a store tell each other of their appends.
pub trait AppendNews: Send + Sync {
    /// Tells the other instances that this one appended to `appended`, without waiting: news
    /// lost is a fetch that waits for the broker's next look, nothing worse.
    fn announce(&self, appended: &[Appended]);
    /// Calls `hear` with every partition another instance announces from now on. Call it
    /// before the first [`Store::relay_lease`](super::Store::relay_lease).
    fn listen(&self, hear: Hear);
}
