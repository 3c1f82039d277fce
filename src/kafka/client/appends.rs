//! Appends to partitions that fetch lanes may be waiting on (see `fetch_lane`'s module docs):
//! our own producer's, as they are acknowledged, and other processes' that reached us some other
//! way (instances sharing a PostgreSQL store announce theirs through it). Either makes a lane
//! waiting on the partition ask again at once; only our own are offered to whoever passes them
//! on ([`Client::own_appends`]), so an announcement does not echo.
use std::sync::Arc;

use tokio::sync::broadcast;

use super::Client;

/// Appends kept for a listener that has not looked yet; a lane that falls further behind asks
/// again as if one of its partitions had been appended to.
const QUEUE: usize = 64;

/// A partition appended to: topic and partition.
pub(super) type Appended = (Arc<str>, i32);

/// Where the client tells of appends.
#[derive(Debug)]
pub(super) struct Appends {
    /// Every append, our own and others': the fetch lanes listen.
    pub lanes: broadcast::Sender<Appended>,
    /// Our own appends only.
    own: broadcast::Sender<Appended>,
}

impl Appends {
    pub fn new() -> Self {
        Self {
            lanes: broadcast::channel(QUEUE).0,
            own: broadcast::channel(QUEUE).0,
        }
    }
}

/// Sends to `channel` when someone listens (no listener is no error).
fn tell(channel: &broadcast::Sender<Appended>, appended: &Appended) {
    if channel.receiver_count() > 0 {
        let _ = channel.send(appended.clone());
    }
}

impl Client {
    /// Our producer's records on `topic`/`partition` were acknowledged: a lane waiting on that
    /// partition asks again without waiting, and [`Client::own_appends`] hears of it.
    pub fn appended(&self, topic: &str, partition: i32) {
        let appended = (Arc::from(topic), partition);
        tell(&self.appends.lanes, &appended);
        tell(&self.appends.own, &appended);
    }

    /// Another process appended to `topic`/`partition` (as it announced): a lane waiting on
    /// that partition asks again without waiting.
    pub fn appended_elsewhere(&self, topic: &str, partition: i32) {
        tell(&self.appends.lanes, &(Arc::from(topic), partition));
    }

    /// Our own appends from now on, to pass on to other processes.
    pub fn own_appends(&self) -> broadcast::Receiver<(Arc<str>, i32)> {
        self.appends.own.subscribe()
    }
}
