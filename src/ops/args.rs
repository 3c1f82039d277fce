//! The flags of `usercenter group ...`.
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args, Subcommand};

use crate::config::Overrides;

/// `usercenter group ...`: inspect and reset the consumer group's offsets, in the style of
/// `kafka-consumer-groups`.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Print the group's state, assignor and members, and per partition its owner, committed
    /// offset, log end offset and lag.
    Describe(DescribeArgs),
    /// Move the group's offsets (in Kafka and in the service's store). Dry run unless
    /// `--execute`; refused while the group has members or the service holds the store.
    #[command(long_about = RESET_HELP)]
    ResetOffsets(ResetArgs),
}

const RESET_HELP: &str = "\
Move the group's offsets of the events topic, in Kafka (OffsetCommit, so standard tools see \
them) and in the service's store (the offsets the consumer actually resumes from).

Without --execute nothing changes: the plan (partition, committed, stored, new) is printed. \
The reset is refused while the group has members (stop every instance first), when the \
service holds the store file (run it where the service's data directory is, with the service \
stopped) and, on the PostgreSQL backend, while any instance runs on the database.

Dedupe: the consumer remembers every record it handled (a mark per event id, kept for \
consumer.dedupe_horizon_secs). After a rewind, records it remembers are skipped: the offsets \
move back but no handler runs again and no effect is applied twice. With --replay the records \
between the new offset and the old one are forgotten as well (their marks deleted), so their \
handlers run again: every effect of those records is applied a second time \
(analytics records and notifications are written again, under the ce_ids of the first ones: \
a downstream consumer that dedupes on ce_id drops them). Use --replay only to rebuild derived \
data.

--shift-by counts from where the consumer resumes: the group's committed offset when it is \
ahead of the store's and within the log, else the store's; with static assignment \
(consumer.assignment, or --instances above 1) the store's alone.";

impl GroupCommand {
    /// The flags every group command has.
    pub fn common(&self) -> &ConfigArgs {
        match self {
            Self::Describe(args) => &args.common,
            Self::ResetOffsets(args) => &args.common,
        }
    }
}

/// Where the service's configuration is (the same sources `serve` reads).
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// TOML config file of the service (brokers, TLS, SASL, topics, data directory).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap brokers, comma-separated (overrides `kafka.brokers`).
    #[arg(long, value_name = "HOST:PORT[,...]", value_delimiter = ',')]
    pub brokers: Option<Vec<String>>,
    /// Directory of the service's store (overrides `store.data_dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The consumer group (default: the service's `consumer.group_id`, which is `usercenter`
    /// unless set).
    #[arg(long)]
    pub group: Option<String>,
    /// The topic (default: the service's events topic, `topics.events`).
    #[arg(long)]
    pub topic: Option<String>,
    /// How many instances split the events topic, as `serve --instances` says (overrides
    /// `consumer.instances`; more than 1 without `consumer.assignment` is static assignment,
    /// whose consumers resume from the store's offsets alone).
    #[arg(long, value_name = "N")]
    pub instances: Option<u32>,
}

impl ConfigArgs {
    /// The group the command works on: `--group`, else the one the service's consumer joins
    /// (during a migration, the Go service's).
    pub fn group<'a>(&'a self, config: &'a crate::config::Config) -> &'a str {
        self.group.as_deref().unwrap_or(&config.consumer.group_id)
    }

    /// What these flags override in the configuration.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            brokers: self.brokers.clone(),
            data_dir: self.data_dir.clone(),
            instances: self.instances,
            ..Overrides::default()
        }
    }
}

/// Flags of `group describe`.
#[derive(Debug, Clone, Args)]
pub struct DescribeArgs {
    /// Configuration, group and topic.
    #[command(flatten)]
    pub common: ConfigArgs,
}

/// Flags of `group reset-offsets`.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("to").required(true).args(["to_earliest", "to_latest", "to_datetime", "shift_by"])))]
pub struct ResetArgs {
    /// Configuration, group and topic.
    #[command(flatten)]
    pub common: ConfigArgs,
    /// To the earliest offset still in the log.
    #[arg(long)]
    pub to_earliest: bool,
    /// To the log end (skip everything not read yet).
    #[arg(long)]
    pub to_latest: bool,
    /// To the first record at or after this time (RFC 3339, e.g. 2026-11-28T09:00:00Z); the log
    /// end when there is none.
    #[arg(long, value_name = "RFC3339", value_parser = rfc3339)]
    pub to_datetime: Option<DateTime<Utc>>,
    /// By N records from the current offset (negative: back), kept within the log.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub shift_by: Option<i64>,
    /// Only this partition (default: all).
    #[arg(long, value_name = "P")]
    pub partition: Option<i32>,
    /// Apply the plan (default: print it only).
    #[arg(long)]
    pub execute: bool,
    /// Also delete the dedupe marks of the records between the new and the old offset, so their
    /// handlers run again (every effect applied a second time: for rebuilding analytics).
    #[arg(long)]
    pub replay: bool,
}

/// `--to-datetime`'s value, read before anything connects: a usage error (status 2) like any
/// other bad flag.
fn rfc3339(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e}: not an RFC 3339 time (like 2026-11-28T09:00:00Z)"))
}
