//! `usercenter perf consume`: N records of any topic, written by any client, through the
//! consumer loop (fetch, dedupe, one store transaction per fetched batch with the offset) with
//! a no-op handler, then one summary line.
use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    consumer::{Consumer, ConsumerConfig, ConsumerParts, NoopHandler},
    kafka,
    store::{RedbStore, Store, StoreError},
};

/// What to run.
#[derive(Debug, Clone, clap::Args)]
pub struct ConsumeArgs {
    /// Bootstrap brokers, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub brokers: Vec<String>,
    /// Topic to read from its beginning (with the `--data-dir` of an earlier run: from where
    /// that run stopped).
    #[arg(long)]
    pub topic: String,
    /// Records to read.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Most bytes per fetch and partition (1 KiB to 16 MiB, as `consumer.fetch_max_bytes`: a
    /// batch may decompress to 16 times it).
    #[arg(
        long,
        default_value_t = 4 << 20,
        value_parser = clap::value_parser!(i32).range(
            i64::from(*crate::config::FETCH_MAX_BYTES.start())
                ..=i64::from(*crate::config::FETCH_MAX_BYTES.end())
        )
    )]
    pub fetch_max_bytes: i32,
    /// Stop when no record came for this many seconds (the topic holds fewer than
    /// `--records`, or they cannot be read): exit status 1, with how many were read.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_secs: u64,
    /// Store directory for offsets and dedupe marks (default: a fresh temporary one, removed
    /// after, a ctrl-c's stop included); one holding a store this command did not make (a
    /// service's) is refused.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct ConsumeSummary {
    /// Records handled.
    pub records: u64,
    /// Records skipped as duplicates.
    pub duplicates: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Client CPU seconds.
    pub cpu_seconds: f64,
}

impl ConsumeSummary {
    /// Records per second.
    pub fn records_per_s(&self) -> f64 {
        (self.records + self.duplicates) as f64 / self.seconds.max(1e-9)
    }

    /// CPU seconds per million records.
    pub fn cpu_per_million(&self) -> f64 {
        self.cpu_seconds / ((self.records + self.duplicates).max(1) as f64 / 1e6)
    }
}

impl std::fmt::Display for ConsumeSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "records={} duplicates={} records_per_s={:.0} cpu_s={:.2} cpu_s_per_million={:.2}",
            self.records,
            self.duplicates,
            self.records_per_s(),
            self.cpu_seconds,
            self.cpu_per_million()
        )
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// The Kafka settings cannot be used.
    #[error(transparent)]
    Connect(#[from] super::PerfClientError),
    /// Kafka could not be reached.
    #[error(transparent)]
    Kafka(#[from] kafka::ClientError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The topic does not exist.
    #[error("topic {0} does not exist")]
    NoTopic(String),
    /// `--data-dir` holds a store this command did not make: a service's, whose offsets and
    /// dedupe marks the run would overwrite.
    #[error(
        "{} holds a store that perf consume did not make (a service's?): the run writes offsets \
         and dedupe marks, so it takes a new directory or one an earlier run made",
        .0.display()
    )]
    ForeignStore(PathBuf),
    /// The file that marks the store as this command's could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Marker {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Stopped by ctrl-c (or SIGTERM) before `--records` were read.
    #[error("interrupted after {done} of {asked} records")]
    Interrupted {
        /// Records read (handled, skipped as copies or dead-lettered).
        done: u64,
        /// `--records`.
        asked: u64,
    },
    /// No record came for `--idle-secs` before `--records` were read.
    #[error(
        "no record for {idle_secs} s after {done} of {asked} records (the topic holds fewer, \
         or they cannot be read: see the log)"
    )]
    Idle {
        /// Records read (handled, skipped as copies or dead-lettered).
        done: u64,
        /// `--records`.
        asked: u64,
        /// `--idle-secs`.
        idle_secs: u64,
    },
}

/// Runs the load and returns its summary; `stop` (the command's ctrl-c or SIGTERM) ends it
/// early with [`ConsumeError::Interrupted`].
pub async fn run(
    args: &ConsumeArgs,
    stop: impl std::future::Future<Output = ()>,
) -> Result<ConsumeSummary, ConsumeError> {
    let (client, _) = super::client(&args.brokers)?;
    match client.fresh_topic(&args.topic).await {
        Ok(_) => {}
        Err(e) if e.is_unknown_topic() => return Err(ConsumeError::NoTopic(args.topic.clone())),
        Err(e) => return Err(e.into()),
    }
    let (dir, temporary) = store_dir(args);
    let store: Arc<dyn Store> = Arc::new(open_own_store(&dir)?);
    let config = ConsumerConfig {
        fetch_max_bytes: args.fetch_max_bytes,
        fetch_max_wait_ms: 100,
        // Every partition, no group: the benchmark measures the partition loops.
        assignment: Some(crate::consumer::AssignmentMode::Static),
        ..Default::default()
    };
    let mut progress = super::Progress::new(Duration::from_secs(3));
    let cpu_start = super::cpu_seconds();
    let start = Instant::now();
    let parts = ConsumerParts {
        topic: args.topic.clone(),
        config,
        store,
        handler: Arc::new(NoopHandler),
        metrics: Arc::default(),
        producer_id: uuid::Uuid::new_v4().as_u128() as u64 >> 1,
        outbox_wake: Arc::new(tokio::sync::Notify::new()),
    };
    let consumer = Consumer::start(client, parts);
    let m = Arc::clone(consumer.metrics());
    let done = || m.handled.get() + m.duplicates.get() + m.dead_letters.get();
    // A topic holding fewer records than asked is read until nothing comes for `--idle-secs`
    // or a ctrl-c, either of which still stops the consumer and removes the temporary store.
    tokio::pin!(stop);
    let mut interrupted = false;
    let idle_for = Duration::from_secs(args.idle_secs);
    let (mut last, mut last_at) = (done(), Instant::now());
    while done() < args.records && last_at.elapsed() < idle_for {
        progress.tick("consume", done(), args.records);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(2)) => {}
            () = &mut stop => {
                interrupted = true;
                break;
            }
        }
        if done() != last {
            (last, last_at) = (done(), Instant::now());
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = super::cpu_seconds() - cpu_start;
    consumer.stop(Duration::from_secs(10)).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if interrupted {
        return Err(ConsumeError::Interrupted {
            done: done(),
            asked: args.records,
        });
    }
    if done() < args.records {
        return Err(ConsumeError::Idle {
            done: done(),
            asked: args.records,
            idle_secs: args.idle_secs,
        });
    }
    Ok(ConsumeSummary {
        records: m.handled.get(),
        duplicates: m.duplicates.get(),
        seconds,
        cpu_seconds,
    })
}

/// The file that marks a store directory as made by this command.
const MADE_BY_PERF: &str = "made-by-perf-consume";

/// Opens the run's store in `dir`: a new one (marked as this command's), or one an earlier run
/// made. A store it did not make is refused: the run's offsets and dedupe marks would land in
/// a service's store, which would then skip the records of that topic for good.
pub(super) fn open_own_store(dir: &std::path::Path) -> Result<RedbStore, ConsumeError> {
    let marker = dir.join(MADE_BY_PERF);
    if dir.join(RedbStore::FILE).exists() && !marker.exists() {
        return Err(ConsumeError::ForeignStore(dir.to_owned()));
    }
    let store = RedbStore::open(dir)?;
    if !marker.exists() {
        std::fs::write(
            &marker,
            b"usercenter perf consume: offsets and dedupe marks of runs\n",
        )
        .map_err(|source| ConsumeError::Marker {
            path: marker.clone(),
            source,
        })?;
    }
    Ok(store)
}

/// Where the run's store goes: `--data-dir`, else a new temporary directory (true: remove it
/// after the run).
fn store_dir(args: &ConsumeArgs) -> (PathBuf, bool) {
    match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let dir = std::env::temp_dir()
                .join(format!("usercenter-perf-{}-{nanos}", std::process::id()));
            (dir, true)
        }
    }
}
