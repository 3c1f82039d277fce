//! A counter per Kafka API, in a static table (the process's metrics by API: requests sent,
//! throttled answers, throttle time).
use std::sync::atomic::{AtomicU64, Ordering};

use kafka_protocol::messages::ApiKey;

/// One slot per API key; Kafka's keys are below 100 and the table has room for more.
const SLOTS: usize = 128;

/// A count per API key.
#[derive(Debug)]
pub(super) struct PerApi([AtomicU64; SLOTS]);

impl PerApi {
    pub(super) const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; SLOTS])
    }

    /// Adds `n` to the API numbered `key` (a key outside the table is not counted).
    pub(super) fn add(&self, key: i16, n: u64) {
        if let Some(slot) = usize::try_from(key).ok().and_then(|i| self.0.get(i)) {
            slot.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The count of `api`.
    pub(super) fn get(&self, api: ApiKey) -> u64 {
        self.0
            .get(api as i16 as usize)
            .map_or(0, |slot| slot.load(Ordering::Relaxed))
    }

    /// Each API counted at least once, with its count, in key order.
    pub(super) fn counted(&self) -> impl Iterator<Item = (ApiKey, u64)> + '_ {
        ApiKey::iter()
            .map(|api| (api, self.get(api)))
            .filter(|&(_, n)| n > 0)
    }
}
