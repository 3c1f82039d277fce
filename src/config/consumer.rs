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

/// How partitions are split between instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssignmentMode {
    /// The Kafka consumer-group protocol (group `group_id`): the coordinator hands out
    /// partitions, moves them when an instance comes or goes, and sees our committed offsets.
    Group,
    /// A fixed share: partitions p with `p % instances == instance`, no group at all.
    Static,
}

/// `[consumer]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerConfig {
    /// Run the consumer loop in `serve`. Default true.
    pub enabled: bool,
    /// `group` or `static`. Unset: `group`, unless `instances` is above 1 (setting a share of
    /// the partitions chooses static mode, as `--instance I --instances N` always did).
    pub assignment: Option<AssignmentMode>,
    /// The consumer group (group mode). Default `usercenter`.
    pub group_id: String,
    /// Without a heartbeat for this long the coordinator drops the member, in milliseconds.
    /// Default 10000.
    pub session_timeout_ms: u32,
    /// How long the coordinator waits for members to rejoin in a rebalance (and we wait for a
    /// revoked partition's batch to commit), in milliseconds. Default 30000.
    pub rebalance_timeout_ms: u32,
    /// How often the member heartbeats, in milliseconds. Default 3000.
    pub heartbeat_interval_ms: u32,
    /// How often the stored offsets are also committed to Kafka (OffsetCommit), in
    /// milliseconds; they are committed at revocation and shutdown too. Default 1000.
    pub auto_commit_interval_ms: u64,
    /// Assignors offered in JoinGroup, in order of preference (`cooperative-sticky`,
    /// `roundrobin`, `range`); the coordinator picks the first every member offers. Default
    /// `["cooperative-sticky", "roundrobin"]`: a group shared with members that offer
    /// `roundrobin` forms (Sarama's default is `range`, which docs/migration.md sets), and it
    /// rebalances eagerly, since a member is cooperative only when every assignor it offers is;
    /// list `cooperative-sticky` alone for incremental rebalances among our instances.
    pub assignors: Vec<String>,
    /// Static membership id (KIP-345), e.g. the pod name: a restart within the session timeout
    /// keeps its partitions without a rebalance, and shutdown does not leave the group.
    /// Environment: `USERCENTER_CONSUMER_GROUP_INSTANCE_ID`. Unset (or empty): dynamic member.
    pub group_instance_id: Option<String>,
    /// This instance's number, 0-based: it owns the partitions p with p % instances == instance.
    pub instance: u32,
    /// How many instances split the topic. Default 1 (this one owns every partition).
    pub instances: u32,
    /// `earliest` (default) or `latest`, for partitions with neither a stored offset nor one
    /// the group committed.
    pub start: StartPolicy,
    /// Most bytes one fetch may return, per partition. Default 1048576. A partition holds up to
    /// two fetches: the batch being handled and the next one, read ahead meanwhile.
    pub fetch_max_bytes: i32,
    /// Longest a fetch waits for new records, in milliseconds. Default 500.
    pub fetch_max_wait_ms: i32,
    /// Attempts of a failing handler before its record goes to the dead-letter topic. Default 5.
    pub handler_attempts: u32,
    /// First pause between handler attempts, doubled each time up to 60 s, in milliseconds.
    /// Default 200.
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

/// The longest `consumer.dedupe_horizon_secs`: 10 years (in milliseconds it stays far inside
/// the `i64` the store's times are kept in).
const MAX_DEDUPE_HORIZON_SECS: u64 = 10 * 365 * 86_400;

/// The bounds of `consumer.fetch_max_bytes` (and of `perf consume --fetch-max-bytes`): up to
/// 16 MiB, since a batch may decompress to 16 times it (at least 16 MiB), per partition and
/// read-ahead, and the Fetch of all partitions asks for at most 50 MiB.
pub const FETCH_MAX_BYTES: std::ops::RangeInclusive<i32> = 1024..=16 << 20;

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            assignment: None,
            group_id: "usercenter".to_owned(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            heartbeat_interval_ms: 3_000,
            auto_commit_interval_ms: 1_000,
            assignors: vec!["cooperative-sticky".to_owned(), "roundrobin".to_owned()],
            group_instance_id: None,
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

    /// The mode in effect: `assignment`, else static when `instances` is above 1, else group.
    pub fn mode(&self) -> AssignmentMode {
        match self.assignment {
            Some(mode) => mode,
            None if self.instances > 1 => AssignmentMode::Static,
            None => AssignmentMode::Group,
        }
    }

    /// The static member id, when one is set and not empty.
    pub fn instance_id(&self) -> Option<&str> {
        self.group_instance_id
            .as_deref()
            .filter(|id| !id.is_empty())
    }

    /// Checks the values; returns `(field, problem)` for the first bad one.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        self.check_group()?;
        if self.instances == 0 {
            return Err(("consumer.instances", "must be at least 1".into()));
        }
        if self.instance >= self.instances {
            return Err((
                "consumer.instance",
                format!("must be below consumer.instances ({})", self.instances),
            ));
        }
        if !FETCH_MAX_BYTES.contains(&self.fetch_max_bytes) {
            return Err((
                "consumer.fetch_max_bytes",
                "must be 1024 to 16777216".into(),
            ));
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
        // Periods far past these would overflow the clock a timer adds them to.
        if !(1..=86_400).contains(&self.metadata_refresh_secs) {
            return Err((
                "consumer.metadata_refresh_secs",
                "must be 1 to 86400".into(),
            ));
        }
        if !(3_600..=MAX_DEDUPE_HORIZON_SECS).contains(&self.dedupe_horizon_secs) {
            return Err((
                "consumer.dedupe_horizon_secs",
                format!(
                    "must be 3600 (and longer than any redelivery window) to {MAX_DEDUPE_HORIZON_SECS}"
                ),
            ));
        }
        if !(1..=7 * 86_400).contains(&self.prune_interval_secs) {
            return Err(("consumer.prune_interval_secs", "must be 1 to 604800".into()));
        }
        Ok(())
    }

    fn check_group(&self) -> Result<(), (&'static str, String)> {
        if self.assignment == Some(AssignmentMode::Group) && self.instances > 1 {
            return Err((
                "consumer.instances",
                "must be 1 with assignment = \"group\" (the group splits the partitions)".into(),
            ));
        }
        if self.group_id.is_empty() || self.group_id.len() > 249 {
            return Err(("consumer.group_id", "must be 1 to 249 characters".into()));
        }
        if !(1_000..=1_800_000).contains(&self.session_timeout_ms) {
            return Err((
                "consumer.session_timeout_ms",
                "must be 1000 to 1800000".into(),
            ));
        }
        if !(1_000..=300_000).contains(&self.rebalance_timeout_ms) {
            return Err((
                "consumer.rebalance_timeout_ms",
                "must be 1000 to 300000".into(),
            ));
        }
        if self.heartbeat_interval_ms == 0 || self.heartbeat_interval_ms >= self.session_timeout_ms
        {
            return Err((
                "consumer.heartbeat_interval_ms",
                "must be above 0 and below session_timeout_ms".into(),
            ));
        }
        if !(10..=3_600_000).contains(&self.auto_commit_interval_ms) {
            return Err((
                "consumer.auto_commit_interval_ms",
                "must be 10 to 3600000".into(),
            ));
        }
        if self.assignors.is_empty() {
            return Err(("consumer.assignors", "must name at least one".into()));
        }
        if let Some(bad) = self
            .assignors
            .iter()
            .find(|a| !ASSIGNORS.contains(&a.as_str()))
        {
            return Err((
                "consumer.assignors",
                format!("unknown assignor `{bad}` (known: {})", ASSIGNORS.join(", ")),
            ));
        }
        Ok(())
    }
}

/// The assignors the consumer group can offer, as Kafka clients name them: those
/// `kafka::group::assign` builds.
pub const ASSIGNORS: &[&str] = crate::kafka::group::assign::NAMES;

#[cfg(test)]
mod tests;
