//! The reset's plan, pure: where the flags move the offsets ([`Target`]), each partition's
//! row ([`PlanRow`]) and new offset ([`new_offset`]), and the table printed ([`format_plan`]).
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::{
    config::AssignmentMode,
    ops::{GroupCommandError, ResetArgs},
};

/// Where to move the offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The earliest offset in the log.
    Earliest,
    /// The log end.
    Latest,
    /// The first record at or after a time.
    Datetime(DateTime<Utc>),
    /// By N from the current offset.
    ShiftBy(i64),
}

impl Target {
    /// The target the flags name.
    pub fn from_args(args: &ResetArgs) -> Result<Self, GroupCommandError> {
        if args.to_earliest {
            Ok(Self::Earliest)
        } else if args.to_latest {
            Ok(Self::Latest)
        } else if let Some(time) = args.to_datetime {
            Ok(Self::Datetime(time))
        } else if let Some(n) = args.shift_by {
            Ok(Self::ShiftBy(n))
        } else {
            Err(GroupCommandError::NoTarget)
        }
    }
}

/// One partition of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRow {
    /// The partition.
    pub partition: i32,
    /// The group's committed offset in Kafka.
    pub committed: Option<i64>,
    /// The offset in the service's store (where its consumer resumes).
    pub stored: Option<i64>,
    /// The earliest offset in the log.
    pub earliest: i64,
    /// The log end offset (the last stable offset: `OffsetQuery::Latest`).
    pub log_end: i64,
    /// The high watermark (`OffsetQuery::HighWatermark`): a committed offset up to it is
    /// within the log.
    pub high_watermark: i64,
    /// The new offset.
    pub new: i64,
    /// How the service's instances share the partitions: with static assignment the
    /// consumer never reads the group's committed offset.
    pub assignment: AssignmentMode,
}

impl PlanRow {
    /// Where the consumer would resume now, by its rule (`consumer::partition::start`): the
    /// group's committed offset when it is ahead of the store's and within the log (another
    /// member of the group, such as the Go service, handled the records up to it), else the
    /// store's, else the group's within the log (past it, the consumer follows
    /// `consumer.start`: none here). With static assignment the store's alone: the consumer
    /// joins no group and reads no group offset.
    pub fn current(&self) -> Option<i64> {
        if self.assignment == AssignmentMode::Static {
            return self.stored;
        }
        let within = self.committed.filter(|&c| c <= self.high_watermark);
        match (self.stored, within) {
            (Some(s), Some(c)) if c > s => Some(c),
            (Some(s), _) => Some(s),
            (None, c) => c,
        }
    }
}

/// The new offset of a partition: `at_time` is the ListOffsets answer for a datetime target
/// (`None`: no record that late). Always within `[earliest, log_end]`, except that a shift
/// never takes an offset beyond the log end (the last stable offset) back to it: a group
/// offset past an open transaction (committed by a read_uncommitted member) stays where it is
/// under `--shift-by 0`, and moves from there.
pub fn new_offset(
    target: Target,
    current: Option<i64>,
    earliest: i64,
    log_end: i64,
    at_time: Option<i64>,
) -> i64 {
    let wanted = match target {
        Target::Earliest => earliest,
        Target::Latest => log_end,
        Target::Datetime(_) => at_time.unwrap_or(log_end),
        Target::ShiftBy(n) => current.unwrap_or(earliest).saturating_add(n),
    };
    let end = match (target, current) {
        (Target::ShiftBy(_), Some(current)) => log_end.max(current),
        _ => log_end,
    };
    wanted.clamp(earliest, end.max(earliest))
}

/// The plan as a table.
pub fn format_plan(topic: &str, rows: &[PlanRow]) -> String {
    let dash = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let mut out = format!(
        "{:<24} {:>9} {:>12} {:>12} {:>12}\n",
        "TOPIC", "PARTITION", "COMMITTED", "STORED", "NEW"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<24} {:>9} {:>12} {:>12} {:>12}",
            topic,
            r.partition,
            dash(r.committed),
            dash(r.stored),
            r.new
        );
    }
    out
}
