//! Readers of `user.events` and `user.notifications` that note, per user, when the
//! registration event and the welcome notification became readable and the timestamp each
//! record carries (the `created_ms` of its outbox row: when the service committed it). The
//! difference between the two on each hop is where the time went.
use std::{collections::HashMap, sync::Arc, time::Duration};

use parking_lot::Mutex;
use usercenter::{event::HeaderLookup, kafka::client::PartitionFetcher};

/// Milliseconds since the epoch, as a float (the common clock of the bench and the records).
pub fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// One record as the bench saw it.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    /// When the bench's fetch returned it.
    pub readable_ms: f64,
    /// The record's own timestamp (the service's commit of its outbox row).
    pub stamped_ms: f64,
}

/// Per user id: the registration event and the welcome notification.
#[derive(Debug, Default)]
pub struct Sightings {
    pub registered: HashMap<String, Seen>,
    pub welcome: HashMap<String, Seen>,
}

pub type Shared = Arc<Mutex<Sightings>>;

/// How long one bench fetch waits on the broker. Nisshi looks at its log again after half the
/// time left, so this bounds how late the bench itself sees a record (about 1 ms).
const READER_WAIT_MS: i32 = 2;

/// Starts one reader per partition of both topics. They read through the service's own Kafka
/// client (a separate one, in this process): every partition on the broker shares one Fetch
/// (the client's fetch lane), so the bench's polling costs one request per wait, not one per
/// partition.
pub async fn start(broker: &str, partitions: i32) -> Shared {
    let seen: Shared = Arc::default();
    let client = testkit::protocol::kafka_client(broker);
    for (topic, ce_type, welcome) in [
        ("user.events", "user.registered", false),
        ("user.notifications", "user.notification.welcome", true),
    ] {
        for p in 0..partitions {
            let fetcher = PartitionFetcher::new(Arc::clone(&client), topic, p);
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut offset = 0;
                loop {
                    let Ok(fetched) = fetcher.fetch(offset, 4_000_000, READER_WAIT_MS).await else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let readable_ms = now_ms();
                    offset = fetched.next_offset.unwrap_or(offset).max(offset);
                    for r in fetched.records {
                        if r.headers.header("ce_type") != Some(ce_type.as_bytes()) {
                            continue;
                        }
                        let Some(subject) = r.headers.header("ce_subject") else {
                            continue;
                        };
                        let s = Seen {
                            readable_ms,
                            stamped_ms: r.timestamp_ms as f64,
                        };
                        let mut seen = seen.lock();
                        let map = if welcome {
                            &mut seen.welcome
                        } else {
                            &mut seen.registered
                        };
                        map.entry(String::from_utf8_lossy(subject).into_owned())
                            .or_insert(s);
                    }
                }
            });
        }
    }
    seen
}
