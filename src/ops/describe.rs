//! `usercenter group describe`: the group's state, assignor and members, and per partition its
//! owner, committed offset, log end offset and lag, like `kafka-consumer-groups --describe`.
use std::{collections::BTreeSet, fmt::Write as _};

use super::{
    GroupCommandError,
    broker_side::{Admin, GroupView, MemberView, UNKNOWN_GROUP},
};
use crate::config::AssignmentMode;

/// One partition's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRow {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The member that owns it, if any.
    pub owner: Option<String>,
    /// The group's committed offset, if any.
    pub committed: Option<i64>,
    /// The log end offset: the end of what a read_committed consumer reads
    /// ([`crate::kafka::protocol::OffsetQuery::Latest`]).
    pub log_end: i64,
}

impl PartitionRow {
    /// Records between the committed offset and the log end; none without a commit (shown
    /// as `-`, as `kafka-consumer-groups` does: counting from offset 0 would count records
    /// the log no longer holds).
    pub fn lag(&self) -> Option<i64> {
        self.committed.map(|c| (self.log_end - c).max(0))
    }
}

/// What `describe` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// The group id.
    pub group: String,
    /// State and members.
    pub view: GroupView,
    /// One row per partition of the topics the group has offsets for, is assigned, or
    /// the service consumes.
    pub partitions: Vec<PartitionRow>,
    /// How the service's instances share the partitions (its configuration).
    pub mode: AssignmentMode,
}

/// Describes `group`; `topic` (the service's events topic) is shown even without offsets;
/// `mode` is the service's assignment mode, which says what the group's offsets mean.
pub async fn describe(
    admin: &Admin,
    group: &str,
    topic: &str,
    mode: AssignmentMode,
) -> Result<Description, GroupCommandError> {
    let view = admin.describe().await?;
    let committed = admin.committed().await?;
    let mut topics: BTreeSet<String> = committed.keys().map(|(t, _)| t.clone()).collect();
    topics.insert(topic.to_owned());
    for m in &view.members {
        topics.extend(m.assigned.iter().flat_map(|a| a.keys().cloned()));
    }
    let mut partitions = Vec::new();
    for t in &topics {
        for p in admin.partitions(t).await? {
            let log_end = admin
                .offset(t, p, crate::kafka::protocol::OffsetQuery::Latest)
                .await?
                .unwrap_or(0);
            partitions.push(PartitionRow {
                topic: t.clone(),
                partition: p,
                owner: owner_of(&view, t, p),
                committed: committed.get(&(t.clone(), p)).copied(),
                log_end,
            });
        }
    }
    Ok(Description {
        group: group.to_owned(),
        view,
        partitions,
        mode,
    })
}

/// The member whose reported assignment holds `topic`/`partition`; `None` when no member's
/// does (or the broker reports none).
pub(super) fn owner_of(view: &GroupView, topic: &str, partition: i32) -> Option<String> {
    view.members
        .iter()
        .find(|m| {
            m.assigned
                .as_ref()
                .and_then(|a| a.get(topic))
                .is_some_and(|ps| ps.contains(&partition))
        })
        .map(|m| m.id.clone())
}

fn or_dash(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

impl std::fmt::Display for Description {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.fmt_group(f)?;
        for m in &self.view.members {
            fmt_member(f, m)?;
        }
        writeln!(f)?;
        self.fmt_mode_note(f)?;
        self.fmt_partitions(f)
    }
}

impl Description {
    /// The group's id, state, protocol and member count.
    fn fmt_group(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = &self.view;
        let protocol = if v.protocol.is_empty() {
            "(not reported by the broker)"
        } else {
            &v.protocol
        };
        writeln!(f, "group:    {}", self.group)?;
        writeln!(f, "state:    {}", v.state)?;
        let protocol_type = or_dash(Some(&v.protocol_type).filter(|p| !p.is_empty()));
        writeln!(f, "protocol: {protocol_type} / {protocol}")?;
        writeln!(f, "members:  {}", v.members.len())
    }

    /// What the members and committed offsets mean under the service's assignment mode.
    fn fmt_mode_note(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.mode {
            AssignmentMode::Static => writeln!(
                f,
                "assignment is static (consumer.assignment): the service's instances read fixed \
                 partitions without joining this group and do not commit to it, so the members \
                 and COMMITTED below are not theirs (another client's, or from when the service \
                 ran in group mode). Their offsets are in the store: `reset-offsets` shows them \
                 as STORED."
            ),
            AssignmentMode::Group if self.view.state == UNKNOWN_GROUP => writeln!(
                f,
                "no member has joined the group or committed to it yet (or the brokers expired \
                 it): no members and no committed offsets to show."
            ),
            AssignmentMode::Group => Ok(()),
        }
    }

    /// The table of partitions: committed offset, log end, lag and owner.
    fn fmt_partitions(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<24} {:>9} {:>12} {:>12} {:>10}  OWNER",
            "TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG"
        )?;
        for r in &self.partitions {
            writeln!(
                f,
                "{:<24} {:>9} {:>12} {:>12} {:>10}  {}",
                r.topic,
                r.partition,
                or_dash(r.committed),
                r.log_end,
                or_dash(r.lag()),
                or_dash(r.owner.as_ref())
            )?;
        }
        Ok(())
    }
}

/// One member's line: its ids, host and reported assignment.
fn fmt_member(f: &mut std::fmt::Formatter<'_>, m: &MemberView) -> std::fmt::Result {
    let assigned = match &m.assigned {
        None => "(not reported by the broker)".to_owned(),
        Some(a) if a.is_empty() => "-".to_owned(),
        Some(a) => {
            let mut text = String::new();
            for (t, ps) in a {
                let list: Vec<String> = ps.iter().map(i32::to_string).collect();
                let _ = write!(
                    text,
                    "{}{t}:[{}]",
                    if text.is_empty() { "" } else { " " },
                    list.join(",")
                );
            }
            text
        }
    };
    let text = |s: &String| or_dash(Some(s).filter(|s| !s.is_empty()));
    writeln!(
        f,
        "  {} instance={} client={} host={} assigned={assigned}",
        m.id,
        or_dash(m.instance_id.as_ref()),
        text(&m.client_id),
        text(&m.client_host),
    )
}
