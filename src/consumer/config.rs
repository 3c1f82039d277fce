//! `[consumer]` settings.
use serde::{Deserialize, Serialize};

/// Where to start a partition that has no stored offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartPolicy {
    /// The oldest record still in the log (default: nothing produced before the first start is lost).
    Earliest,
    /// Only records produced from now on.
    Latest,
}

/// `[consumer]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerConfig {
    /// Run the consumer loop in `serve`. Default true.
    pub enabled: bool,
    /// This instance's number, 0-based: it owns the partitions p with p % instances == instance.
    pub instance: u32,
    /// How many instances split the topic. Default 1 (this one owns every partition).
    pub instances: u32,
    /// `earliest` (default) or `latest`, for partitions without a stored offset.
    pub start: StartPolicy,
    /// Most bytes one fetch may return, per partition. Default 1048576.
    pub fetch_max_bytes: i32,
    /// Longest a fetch waits for new records, in milliseconds. Default 500.
    pub fetch_max_wait_ms: i32,
    /// Attempts of a failing handler before its record goes to the dead-letter topic. Default 5.
    pub handler_attempts: u32,
    /// First pause between handler attempts, doubled each time, in milliseconds. Default 200.
    pub handler_backoff_ms: u64,
    /// Dead-letter topic. Default `user.events.dlq`.
    pub dlq_topic: String,
    /// How often to look for partitions added to the topic, in seconds. Default 30.
    pub metadata_refresh_secs: u64,
    /// How long a dedupe mark (and the event-log entry of its event) is kept, in seconds.
    /// Must be longer than any window in which a record can be delivered again: the events
    /// topic's retention (an offset reset re-reads it all) plus the longest Kafka outage during
    /// which the outbox may send a row again. Default 1209600 (14 days: twice Kafka's default
    /// retention of 7 days). At least 3600.
    pub dedupe_horizon_secs: u64,
    /// How often marks older than the horizon are pruned, in seconds. Default 3600.
    pub prune_interval_secs: u64,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            instance: 0,
            instances: 1,
            start: StartPolicy::Earliest,
            fetch_max_bytes: 1 << 20,
            fetch_max_wait_ms: 500,
            handler_attempts: 5,
            handler_backoff_ms: 200,
            dlq_topic: "user.events.dlq".to_owned(),
            metadata_refresh_secs: 30,
            dedupe_horizon_secs: 14 * 86_400,
            prune_interval_secs: 3_600,
        }
    }
}

impl ConsumerConfig {
    /// Whether this instance owns `partition`.
    pub fn owns(&self, partition: i32) -> bool {
        partition >= 0 && (partition as u32) % self.instances.max(1) == self.instance
    }

    /// Checks the values; returns `(field, problem)` for the first bad one.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.instances == 0 {
            return Err(("consumer.instances", "must be at least 1".into()));
        }
        if self.instance >= self.instances {
            return Err((
                "consumer.instance",
                format!("must be below consumer.instances ({})", self.instances),
            ));
        }
        if self.fetch_max_bytes < 1024 {
            return Err(("consumer.fetch_max_bytes", "must be at least 1024".into()));
        }
        if !(1..=60_000).contains(&self.fetch_max_wait_ms) {
            return Err(("consumer.fetch_max_wait_ms", "must be 1 to 60000".into()));
        }
        if self.handler_attempts == 0 {
            return Err(("consumer.handler_attempts", "must be at least 1".into()));
        }
        if self.handler_backoff_ms > 60_000 {
            return Err((
                "consumer.handler_backoff_ms",
                "must be at most 60000".into(),
            ));
        }
        if self.metadata_refresh_secs == 0 {
            return Err((
                "consumer.metadata_refresh_secs",
                "must be at least 1".into(),
            ));
        }
        if self.dedupe_horizon_secs < 3_600 {
            return Err((
                "consumer.dedupe_horizon_secs",
                "must be at least 3600 (and longer than any redelivery window)".into(),
            ));
        }
        if self.prune_interval_secs == 0 {
            return Err(("consumer.prune_interval_secs", "must be at least 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
