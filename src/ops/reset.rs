//! `usercenter group reset-offsets`: the plan (pure: [`new_offset`]) and carrying it out.
//!
//! Order of the steps, so that a failure leaves a state the consumer handles and a second run
//! can finish: the group must have no members (DescribeGroups), the store must open (not held
//! by a running service); with `--replay` the dedupe marks of the records between the new and
//! the old offset are deleted first, one fetched batch per store transaction; then Kafka's
//! offsets are committed, then the store's. A failure before the Kafka commit leaves both
//! where they were, with `--replay` some marks deleted (those records are handled again if
//! read again). A failure between the two leaves the consumer starting from the store's
//! offset where it is ahead of Kafka's new one (a rewind does not happen), else, in group mode,
//! from Kafka's (a skip does): said in [`GroupCommandError::KafkaOnly`], with the plan; the same
//! reset to a position run again finishes it (a `--shift-by` would count from the moved start).
use std::fmt::Write as _;

mod plan;

pub use plan::{PlanRow, Target, format_plan, new_offset};

use super::{GroupCommandError, args::ResetArgs, broker_side::Admin, store_side};
use crate::{
    config::{AssignmentMode, StoreBackend, StoreConfig},
    consumer::process::{key_of, poison_key},
    kafka::{
        client::PartitionFetcher,
        protocol::{FetchError, Fetched, OffsetQuery},
        records::Unreadable,
    },
    store::Store,
};

/// Said of a reset of a group other than the service's consumer's.
const OTHER_GROUP: &str = "the group is not the service's (consumer.group_id): its store's \
     offsets are the service's consumer's and stay as they are\n";

/// Builds the plan, and carries it out with `--execute`; returns what to print. `config` is
/// the service's store, `None` for a group other than its consumer's (whose offsets move in
/// Kafka alone); `assignment` how the service's instances share the partitions.
pub async fn run(
    admin: &Admin,
    args: &ResetArgs,
    topic: &str,
    config: Option<&StoreConfig>,
    assignment: AssignmentMode,
) -> Result<String, GroupCommandError> {
    let reset = Reset {
        admin,
        args,
        topic,
        config,
        target: Target::from_args(args)?,
        assignment,
    };
    let partitions = reset.partitions().await?;
    // Opened before anything changes: a running service holds it and the reset stops here.
    // `--execute` needs the store where the configuration points (a PostgreSQL database is
    // there, or the connect fails): one created in the wrong directory would leave the real
    // store's offsets, ahead, to win over the new ones.
    let store = match config {
        Some(c) => store_side::open(c, args.execute).await?,
        None => None,
    };
    if let Some(c) = config
        && args.execute
        && store.is_none()
    {
        return Err(GroupCommandError::NoStore(absolute(&c.data_dir)));
    }
    let rows = reset.plan(store.as_deref(), &partitions).await?;
    let mut out = format_plan(topic, &rows);
    if !args.execute {
        reset.dry_run(&mut out, store.is_none());
        return Ok(out);
    }
    reset.execute(store.as_deref(), &rows, &mut out).await?;
    Ok(out)
}

/// One reset of a topic's offsets, as the flags ask for it.
struct Reset<'a> {
    /// The group's coordinator and the partitions' log offsets.
    admin: &'a Admin,
    /// The flags.
    args: &'a ResetArgs,
    /// The topic whose offsets move.
    topic: &'a str,
    /// Where the service's store is; `None` for another group than its consumer's.
    config: Option<&'a StoreConfig>,
    /// Where the offsets move to.
    target: Target,
    /// How the service's instances share the partitions (whose offset they resume from).
    assignment: AssignmentMode,
}

impl Reset<'_> {
    /// The partitions to reset (all, or the one `--partition` names), once the group is known
    /// to have no members.
    async fn partitions(&self) -> Result<Vec<i32>, GroupCommandError> {
        let view = self.admin.describe().await?;
        if !view.is_inactive() {
            return Err(GroupCommandError::Active {
                group: self.admin.group().to_owned(),
                static_members_hint: view.static_members_hint(),
                state: view.state,
                members: view.members.len(),
            });
        }
        let partitions = self.admin.partitions(self.topic).await?;
        if partitions.is_empty() {
            return Err(GroupCommandError::NoTopic(self.topic.to_owned()));
        }
        match self.args.partition {
            Some(p) if !partitions.contains(&p) => Err(GroupCommandError::NoPartition {
                topic: self.topic.to_owned(),
                partition: p,
            }),
            Some(p) => Ok(vec![p]),
            None => Ok(partitions),
        }
    }

    /// One row per partition: its offsets in Kafka, in `store` and in the log, and the new one.
    async fn plan(
        &self,
        store: Option<&dyn Store>,
        partitions: &[i32],
    ) -> Result<Vec<PlanRow>, GroupCommandError> {
        let stored = match store {
            Some(s) => store_side::offsets(s, self.topic, partitions)?,
            None => vec![None; partitions.len()],
        };
        let committed = self.admin.committed().await?;
        let mut rows = Vec::new();
        for (&p, stored) in partitions.iter().zip(stored) {
            let committed = committed.get(&(self.topic.to_owned(), p)).copied();
            rows.push(self.row(p, stored, committed).await?);
        }
        Ok(rows)
    }

    /// The plan of partition `p`, whose offset is `stored` in the store and `committed` in
    /// Kafka.
    async fn row(
        &self,
        p: i32,
        stored: Option<i64>,
        committed: Option<i64>,
    ) -> Result<PlanRow, GroupCommandError> {
        let (admin, topic) = (self.admin, self.topic);
        let earliest = admin
            .offset(topic, p, OffsetQuery::Earliest)
            .await?
            .unwrap_or(0);
        let log_end = admin
            .offset(topic, p, OffsetQuery::Latest)
            .await?
            .unwrap_or(0);
        let high_watermark = admin
            .offset(topic, p, OffsetQuery::HighWatermark)
            .await?
            .unwrap_or(log_end);
        let at_time = match self.target {
            Target::Datetime(t) => {
                admin
                    .offset(topic, p, OffsetQuery::At(t.timestamp_millis()))
                    .await?
            }
            _ => None,
        };
        let mut row = PlanRow {
            partition: p,
            committed,
            stored,
            earliest,
            log_end,
            high_watermark,
            new: 0,
            assignment: self.assignment,
        };
        row.new = new_offset(self.target, row.current(), earliest, log_end, at_time);
        Ok(row)
    }

    /// Says that nothing changed (and what `--replay` would delete).
    fn dry_run(&self, out: &mut String, no_store: bool) {
        out.push_str("\ndry run: nothing changed (add --execute to apply)\n");
        if self.args.replay {
            out.push_str(
                "--replay: the dedupe marks of the records from NEW up to the current offset \
                 (where the consumer resumes: COMMITTED when ahead of STORED and within the \
                 log, else STORED, else COMMITTED; with static assignment STORED) would be \
                 deleted, so their handlers run again\n",
            );
        }
        match self.config {
            Some(c) if no_store => {
                let dir = absolute(&c.data_dir);
                let _ = writeln!(
                    out,
                    "no store in {}: --execute refuses; point --data-dir at the service's store",
                    dir.display()
                );
            }
            Some(_) => {}
            None => out.push_str(OTHER_GROUP),
        }
    }

    /// With `--replay` deletes the dedupe marks of the records to be read again, then commits
    /// the plan's offsets to Kafka and to `store`. A reset to a position (`--to-earliest`,
    /// `--to-latest`, `--to-datetime`) that failed part-way can be run again to the same end,
    /// and it deletes the marks left. A `--shift-by` counts from where the consumer resumes,
    /// which the group's new offset can move when only the Kafka commit went through.
    async fn execute(
        &self,
        store: Option<&dyn Store>,
        rows: &[PlanRow],
        out: &mut String,
    ) -> Result<(), GroupCommandError> {
        let offsets: Vec<(i32, i64)> = rows.iter().map(|r| (r.partition, r.new)).collect();
        let (Some(store), Some(config)) = (store, self.config) else {
            self.admin.commit(self.topic, &offsets).await?;
            out.push_str("\noffsets set in Kafka\n");
            out.push_str(OTHER_GROUP);
            return Ok(());
        };
        let mut marks = 0;
        if self.args.replay {
            for r in rows {
                let upper = r.current().unwrap_or(r.log_end);
                if r.new < upper {
                    marks += forget_range(self.admin, store, self.topic, r.partition, r.new, upper)
                        .await?;
                }
            }
        }
        let mut committed = self.admin.commit(self.topic, &offsets).await;
        if let Err(GroupCommandError::Joined { replay, .. }) = &mut committed {
            *replay = self.args.replay;
        }
        committed?;
        if let Err(e) = store_side::set_offsets(store, self.topic, &offsets) {
            let again = match self.target {
                Target::ShiftBy(_) => {
                    "a --shift-by counts from where the consumer resumes, which this moved: \
                     check `usercenter group describe` and a dry run's plan before running one \
                     again"
                }
                _ => "run the same command again to set them there too",
            };
            return Err(GroupCommandError::KafkaOnly {
                cause: Box::new(e),
                again,
                plan: std::mem::take(out),
            });
        }
        let _ = writeln!(out, "\noffsets set in Kafka and in {}", store_name(config));
        if self.args.replay {
            let _ = writeln!(
                out,
                "replay: {marks} dedupe marks deleted; those records will be handled again"
            );
        }
        Ok(())
    }
}

/// How often a replay's scan says where it is (on stderr).
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

/// Forgets that the records of `topic`/`partition` in `[from, to)` were handled: deletes their
/// dedupe marks (and poison marks on the partition); how many there were.
async fn forget_range(
    admin: &Admin,
    store: &dyn Store,
    topic: &str,
    partition: i32,
    from: i64,
    to: i64,
) -> Result<u64, GroupCommandError> {
    let fetcher = admin.fetcher(topic, partition);
    let mut offset = from;
    let mut deleted = 0;
    let mut said = std::time::Instant::now();
    while offset < to {
        // A replay over days of records takes minutes: where it is, every few seconds.
        if said.elapsed() >= PROGRESS_EVERY {
            said = std::time::Instant::now();
            eprintln!(
                "replay: {topic}/{partition} at offset {offset} of {from}..{to}, \
                 {deleted} dedupe marks deleted so far"
            );
        }
        let fetched = scan_fetch(&fetcher, offset).await?;
        let (records, readable) = (fetched.records, fetched.last_stable_offset);
        let in_range = || {
            records
                .iter()
                .filter(|r| r.offset >= offset && r.offset < to)
        };
        // Each record's mark, and its poison mark on this partition (a poison record is
        // dead-lettered again).
        let keys: Vec<Vec<u8>> = in_range()
            .filter_map(key_of)
            .flat_map(|k| [k.as_bytes().to_vec(), poison_key(topic, partition, &k)])
            .collect();
        deleted += store_side::forget_marks(store, &keys)?;
        // An unreadable batch has no marks: the consumer dead-lettered it whole.
        let past = fetched.unreadable.as_ref().map(Unreadable::next_offset);
        match next_fetch(offset, fetched.next_offset.max(past), readable) {
            Some(next) => offset = next,
            None => break,
        }
    }
    Ok(deleted)
}

/// A replay scan's fetch from `offset`, asked again (3 times at most) when the broker answers
/// without the partition's offsets (a broker whose storage stalled for seconds) or throttled
/// it (the next Fetch waits out the throttle).
async fn scan_fetch(fetcher: &PartitionFetcher, offset: i64) -> Result<Fetched, GroupCommandError> {
    let mut again = 3;
    loop {
        match fetcher.fetch(offset, 4_000_000, 500).await {
            Err(FetchError::OffsetsUnknown | FetchError::Throttled) if again > 0 => again -= 1,
            answer => return answer.map_err(GroupCommandError::Fetch),
        }
    }
}

/// Where a replay's scan fetches next, after a fetch at `offset` whose complete batches ended
/// at `end` (`None`: it held none) from a partition readable up to `readable` (its last stable
/// offset: past it no record is committed, so none was handled); `None` when the log has
/// nothing more. Past the last batch, whatever it held (records, transaction markers, an
/// aborted transaction); one past `offset` when the fetch returned no batch ending past it
/// below `readable` (a gap in the log).
pub(super) fn next_fetch(offset: i64, end: Option<i64>, readable: i64) -> Option<i64> {
    match end {
        Some(end) if end > offset => Some(end),
        _ if offset >= readable => None,
        _ => Some(offset + 1),
    }
}

/// The service's store as an operator knows it: the redb file's folder, or "the PostgreSQL
/// database" (its URL may hold a password).
fn store_name(config: &StoreConfig) -> String {
    match config.backend {
        StoreBackend::Postgres => "the PostgreSQL database (store.url)".to_owned(),
        StoreBackend::Redb => format!("the store in {}", absolute(&config.data_dir).display()),
    }
}

/// `dir` as an absolute path (as given when the working directory cannot be read): where a
/// relative `store.data_dir` points is what an operator in the wrong directory needs to see.
fn absolute(dir: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}
