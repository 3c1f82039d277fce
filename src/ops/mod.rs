//! Operator commands: for the service's consumer group, in the style of
//! `kafka-consumer-groups` (`usercenter group describe` and `usercenter group reset-offsets`),
//! and for the rows the outbox relay parked (`usercenter outbox parked` and `requeue`).
//!
//! Both read the service's own configuration (brokers, TLS, SASL, topics, data directory), so
//! they reach the cluster exactly as the service does. Kafka's committed offsets are what
//! standard tools show; the service's store holds the offsets its consumer really resumes
//! from (committed with the effects, exactly once), so a reset writes both (see `reset`).
//!
//! | module | owns |
//! |---|---|
//! | `args` | the flags, and the `--help` text on how a reset meets dedupe |
//! | `broker_side` | [`Admin`]: coordinator requests (DescribeGroups, OffsetFetch, OffsetCommit) and log offsets |
//! | `describe` | the describe report |
//! | `parked` | listing parked outbox rows and putting them back in the outbox |
//! | `reset` | carrying the reset out; `reset/plan` the plan itself (pure) |
//! | `store_side` | the store side of a reset: offsets and, with `--replay`, dedupe marks |
mod args;
mod broker_side;
mod describe;
mod parked;
mod reset;
mod store_side;

use std::path::PathBuf;

pub use args::{ConfigArgs, DescribeArgs, GroupCommand, ResetArgs};
pub use broker_side::{Admin, GroupView, MemberView};
pub use describe::{Description, PartitionRow, describe};
pub use parked::{
    OutboxCommand, ParkedRow, ParkedSummary, RequeueArgs, StoreArgs, list as list_parked,
    requeue as requeue_parked,
};
pub use reset::{PlanRow, Target, format_plan, new_offset};

use crate::{
    config::{AssignmentMode, Config},
    kafka::{ClientError, error_code::ErrorCode, protocol},
    store::StoreError,
};

/// Why a group command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GroupCommandError {
    /// The TLS settings cannot be used.
    #[error(transparent)]
    Security(crate::kafka::security::SecurityError),
    /// No broker could be reached, or a metadata, ListOffsets or Fetch request failed.
    #[error("broker request failed")]
    Client(#[source] ClientError),
    /// A request to the coordinator failed.
    #[error("request to the group coordinator failed")]
    Call(#[from] protocol::CallError),
    /// A broker answered an error code.
    #[error("{what} answered {code}")]
    Refused {
        /// The request.
        what: &'static str,
        /// Kafka's error code.
        code: ErrorCode,
    },
    /// The answer said nothing about the group.
    #[error("{what} answered nothing for the group")]
    Unanswered {
        /// The request.
        what: &'static str,
    },
    /// Reading records failed.
    #[error("fetch failed")]
    Fetch(#[source] protocol::FetchError),
    /// The group has members: offsets can only be reset while it has none.
    #[error(
        "group {group} is {state} with {members} member(s){static_members_hint}: stop every \
         consumer of the group (every usercenter instance) and try again"
    )]
    Active {
        /// The group.
        group: String,
        /// Its state.
        state: String,
        /// How many members.
        members: usize,
        /// Empty, or what to do about static members (`group.instance_id`), which stay in
        /// the group after they stopped until their session times out.
        static_members_hint: String,
    },
    /// The group is one of Kafka's new consumer protocol (KIP-848), whose members this tool
    /// cannot see.
    #[error(
        "group {group} uses Kafka's consumer protocol (KIP-848; its members set \
         group.protocol=consumer), whose members DescribeGroups does not show (the broker \
         said: {message}): use kafka-consumer-groups.sh for it"
    )]
    NotClassic {
        /// The group.
        group: String,
        /// The broker's error message.
        message: String,
    },
    /// A member joined the group while the reset ran: the coordinator refused the commit.
    #[error(
        "a member joined group {group} while the reset ran (OffsetCommit answered {code}){}: \
         stop every consumer of the group and run the same reset again",
        replay_note(.replay)
    )]
    Joined {
        /// The group.
        group: String,
        /// The coordinator's answer.
        code: ErrorCode,
        /// Whether `--replay` deleted dedupe marks before the commit.
        replay: bool,
    },
    /// `--replay` names a group other than the service's own.
    #[error(
        "--replay works on the service's own group ({own}, consumer.group_id): the dedupe \
         marks it deletes are that consumer's, not group {group}'s"
    )]
    ReplayOtherGroup {
        /// The group named.
        group: String,
        /// `consumer.group_id`.
        own: String,
    },
    /// `--execute` with the service's group and no redb store where the configuration points.
    #[error(
        "no store in {}: point --data-dir (or USERCENTER_STORE_DATA_DIR) at the service's store \
         and try again. A service that has never run has none: in group mode it starts from \
         the group's committed offsets, which Kafka's own tools set; with static assignment \
         from consumer.start",
        .0.display()
    )]
    NoStore(PathBuf),
    /// The store is held by a running service.
    #[error(
        "the store {} is in use (is the service running?): stop the service and run this again",
        .0.display()
    )]
    StoreInUse(PathBuf),
    /// A dry run met a redb file that needs the repair a killed process leaves it needing.
    #[error(
        "the store {} was not closed cleanly (its service was killed) and needs a repair, \
         which a read-only look (a dry run, a listing) does not make: the service makes it \
         when it next starts, and so does --execute",
        .0.display()
    )]
    NeedsRepair(PathBuf),
    /// An outbox command found no redb store where the configuration points.
    #[error(
        "no store in {}: point --data-dir (or USERCENTER_STORE_DATA_DIR) at the service's store",
        .0.display()
    )]
    NoStoreFile(PathBuf),
    /// `outbox requeue` named a sequence that is not parked.
    #[error("no parked row has sequence {0}: `usercenter outbox parked` lists them")]
    NotParked(u64),
    /// `outbox requeue` named a parked row that does not decode: the relay would park it again.
    #[error(
        "parked row {0} does not decode as an outbox record (another version wrote it, or an \
         edit by hand): the relay would park it again"
    )]
    UnreadableParked(u64),
    /// A usercenter instance runs on the PostgreSQL database.
    #[error(
        "the PostgreSQL database is in use by a usercenter instance (a frozen one, stopped \
         by SIGSTOP or a paused VM, holds it until its database session ends): stop every \
         instance, then reset"
    )]
    DatabaseInUse,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `--execute` set the offsets in Kafka, then failed to set them in the store.
    #[error(
        "the offsets were set in Kafka but not in the store ({cause}): {again}; until then the \
         consumer starts from the store's offset where it is ahead of Kafka's new one, else (in \
         group mode) from Kafka's. The plan:\n{plan}"
    )]
    KafkaOnly {
        /// Why the store's write failed.
        cause: Box<GroupCommandError>,
        /// What to do: run it again (a reset to a position), or look first (a `--shift-by`,
        /// which counts from where the consumer resumes, which this failure moved).
        again: &'static str,
        /// The plan, as printed.
        plan: String,
    },
    /// No target flag (clap requires one; not expected).
    #[error("one of --to-earliest, --to-latest, --to-datetime, --shift-by is required")]
    NoTarget,
    /// The topic does not exist.
    #[error("topic {0} does not exist")]
    NoTopic(String),
    /// The topic has no such partition.
    #[error("topic {topic} has no partition {partition}")]
    NoPartition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
}

/// What [`GroupCommandError::Joined`] adds after a `--replay`.
fn replay_note(replay: &bool) -> &'static str {
    if *replay {
        "; the dedupe marks of the records to be read again are deleted already"
    } else {
        ""
    }
}

/// Runs the outbox `command` with `config`; returns what to print.
pub async fn run_outbox(
    command: &OutboxCommand,
    config: &Config,
) -> Result<String, GroupCommandError> {
    parked::run(command, config).await
}

/// Runs `command` with `config`; returns what to print.
pub async fn run(command: &GroupCommand, config: &Config) -> Result<String, GroupCommandError> {
    let common = command.common();
    let topic = common.topic.as_deref().unwrap_or(&config.topics.events);
    let group = common.group(config);
    let admin = Admin::connect(&config.kafka, group).await?;
    match command {
        GroupCommand::Describe(_) => {
            let mode = config.consumer.mode();
            Ok(describe(&admin, group, topic, mode).await?.to_string())
        }
        GroupCommand::ResetOffsets(args) => {
            // The store's offsets are the service's consumer's: another group's reset moves
            // Kafka's offsets alone.
            let own = group == config.consumer.group_id;
            if args.replay && !own {
                return Err(GroupCommandError::ReplayOtherGroup {
                    group: group.to_owned(),
                    own: config.consumer.group_id.clone(),
                });
            }
            let store = own.then_some(&config.store);
            // Another group's consumer resumes from its committed offsets, whatever the
            // service's own assignment.
            let mode = if own {
                config.consumer.mode()
            } else {
                AssignmentMode::Group
            };
            reset::run(&admin, args, topic, store, mode).await
        }
    }
}

#[cfg(test)]
mod tests;
