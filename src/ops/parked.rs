//! `usercenter outbox parked` and `usercenter outbox requeue`: the rows the relay parked.
//!
//! The relay parks a row it can never publish as it is (a record larger than the topic's
//! `max.message.bytes` or the producer's `max_message_bytes`, a row that does not decode), so
//! that the rows behind it go on. A parked `user.events` row is an event the API answered 2xx
//! for that has not reached Kafka. Once the cause is mended (the topic's limit raised, say),
//! `requeue` puts the rows back at the end of the outbox, under new outbox sequences and with
//! their own headers: their `ce_id` is kept, so a consumer that already saw one dedupes it.
//! A requeued event arrives after the events of its user written since it was parked.
//!
//! On redb every command needs the service stopped: it holds the file, which no other process
//! opens meanwhile, even to read (listing and a dry run open it read-only). On PostgreSQL they
//! run beside the instances, which relay a requeued row like any other.
use std::{fmt::Write as _, path::PathBuf};

use clap::{Args, Subcommand};

use super::{GroupCommandError, store_side};
use crate::{
    config::{Config, Overrides, StoreBackend},
    event::header,
    outbox::{self, OutboxRecord},
    store::{Store, StoreError, StoreExt, Table},
};

/// Rows read per store transaction (a dead letter is up to 512 KiB).
const PAGE: usize = 32;

/// The longest text a listing shows of a key or header (others' records can hold anything).
const SHOWN: usize = 80;

/// `usercenter outbox ...`
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List the rows the relay parked (it could never publish them as they were): sequence,
    /// topic, key, size, event type and id, when written.
    Parked(StoreArgs),
    /// Put parked rows back at the end of the outbox for the relay to publish, once their
    /// cause is mended (the topic's max.message.bytes raised, say). Dry run unless --execute;
    /// on redb, run with the service stopped.
    Requeue(RequeueArgs),
}

/// Where the service's store is (the same sources `serve` reads).
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// TOML config file of the service (its store).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the service's store (overrides `store.data_dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl StoreArgs {
    /// What these flags override in the configuration.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            data_dir: self.data_dir.clone(),
            ..Overrides::default()
        }
    }
}

/// Flags of `outbox requeue`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["seq", "all"])))]
pub struct RequeueArgs {
    /// The store.
    #[command(flatten)]
    pub common: StoreArgs,
    /// The parked rows' sequences, as `outbox parked` lists them (comma-separated).
    #[arg(long, value_name = "SEQ[,...]", value_delimiter = ',')]
    pub seq: Vec<u64>,
    /// Every parked row.
    #[arg(long)]
    pub all: bool,
    /// Put them back (default: say what would be put back).
    #[arg(long)]
    pub execute: bool,
}

impl OutboxCommand {
    /// The store flags.
    pub fn common(&self) -> &StoreArgs {
        match self {
            Self::Parked(args) => args,
            Self::Requeue(args) => &args.common,
        }
    }
}

/// One parked row: its sequence and, when it decodes, what a listing shows of its record.
#[derive(Debug, Clone, PartialEq)]
pub struct ParkedRow {
    /// Its key in the parked rows (its outbox sequence when it was parked).
    pub seq: u64,
    /// Its size as stored.
    pub bytes: usize,
    /// What the listing shows, unless the row does not decode.
    pub summary: Option<ParkedSummary>,
}

/// A parked record as the listing shows it: every text printable, at most [`SHOWN`] characters.
#[derive(Debug, Clone, PartialEq)]
pub struct ParkedSummary {
    /// The topic.
    pub topic: String,
    /// The key, `-` when none.
    pub key: String,
    /// `ce_type`, `-` when none.
    pub ce_type: String,
    /// `ce_id`, `-` when none.
    pub ce_id: String,
    /// When the row was written (ms since the epoch).
    pub created_ms: i64,
}

impl ParkedSummary {
    fn of(record: &OutboxRecord) -> Self {
        let header = |name: &str| {
            record
                .headers
                .get(name)
                .map_or_else(|| "-".to_owned(), |v| shown(v))
        };
        Self {
            topic: shown(record.topic.as_bytes()),
            key: record.key.as_deref().map_or_else(|| "-".to_owned(), shown),
            ce_type: header(header::TYPE),
            ce_id: header(header::ID),
            created_ms: record.created_ms,
        }
    }
}

/// `bytes` as text a terminal shows as it is: control characters (tabs, newlines, escape
/// sequences) escaped, cut at [`SHOWN`] characters.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut escaped = text.chars().flat_map(char::escape_debug);
    let mut out: String = escaped.by_ref().take(SHOWN).collect();
    if escaped.next().is_some() {
        out.push('…');
    }
    out
}

/// Every parked row, in sequence order.
pub fn list(store: &dyn Store) -> Result<Vec<ParkedRow>, StoreError> {
    let mut out = Vec::new();
    let mut from = 0u64;
    loop {
        let page =
            store.read_with(|txn| txn.range_from(Table::Parked, &from.to_be_bytes(), PAGE))?;
        let full = page.len() == PAGE;
        for (key, value) in page {
            let seq = seq_of(&key)?;
            out.push(ParkedRow {
                seq,
                bytes: value.len(),
                summary: postcard::from_bytes::<OutboxRecord>(&value)
                    .ok()
                    .map(|r| ParkedSummary::of(&r)),
            });
            from = seq.saturating_add(1);
        }
        if !full {
            return Ok(out);
        }
    }
}

fn seq_of(key: &[u8]) -> Result<u64, StoreError> {
    key.try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::KeyLength {
            table: Table::Parked.name(),
            len: key.len(),
        })
}

/// Moves the parked rows `seqs` back to the end of the outbox, in one transaction, in the
/// order they were written (their sequences', whatever order `seqs` names them in, each
/// once). A sequence that is not parked, or a row that does not decode (it would be parked
/// again), fails the whole move.
pub fn requeue(store: &dyn Store, seqs: &[u64]) -> Result<(), GroupCommandError> {
    let mut seqs = seqs.to_vec();
    seqs.sort_unstable();
    seqs.dedup();
    store.write_with(|txn| {
        for &seq in &seqs {
            let key = seq.to_be_bytes();
            let Some(value) = txn.get(Table::Parked, &key)? else {
                return Err(GroupCommandError::NotParked(seq));
            };
            let record: OutboxRecord = postcard::from_bytes(&value)
                .map_err(|_| GroupCommandError::UnreadableParked(seq))?;
            txn.delete(Table::Parked, &key)?;
            outbox::append(txn, &record)?;
        }
        Ok(())
    })
}

/// Runs `command` with `config`; returns what to print.
pub async fn run(command: &OutboxCommand, config: &Config) -> Result<String, GroupCommandError> {
    let execute = matches!(command, OutboxCommand::Requeue(args) if args.execute);
    // Only a redb write needs the file to itself; PostgreSQL's instances relay a requeued row.
    let exclusive = execute && config.store.backend == StoreBackend::Redb;
    let store = match config.store.backend {
        StoreBackend::Postgres => store_side::open(&config.store, false).await?,
        StoreBackend::Redb => store_side::open_redb(&config.store.data_dir, !exclusive)?,
    }
    .ok_or_else(|| GroupCommandError::NoStoreFile(config.store.data_dir.clone()))?;
    let parked = list(store.as_ref())?;
    let OutboxCommand::Requeue(args) = command else {
        return Ok(format_list(&parked));
    };
    let (seqs, unreadable) = chosen(&parked, args)?;
    let kept = match unreadable {
        0 => String::new(),
        n => format!("; {n} that do not decode stay parked"),
    };
    if seqs.is_empty() {
        return Ok(format!("no parked rows to put back{kept}\n"));
    }
    let listed = seqs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let n = seqs.len();
    if !execute {
        return Ok(format!(
            "would put back {n} parked row(s) ({listed}) at the end of the outbox{kept}: run again with --execute\n"
        ));
    }
    requeue(store.as_ref(), &seqs)?;
    Ok(format!(
        "put back {n} parked row(s) ({listed}) at the end of the outbox{kept}: the relay publishes them next\n"
    ))
}

/// The sequences `args` names among `parked`, in order and each once, and how many rows
/// `--all` leaves because they do not decode (the relay would park them again).
fn chosen(
    parked: &[ParkedRow],
    args: &RequeueArgs,
) -> Result<(Vec<u64>, usize), GroupCommandError> {
    let mut seqs = Vec::new();
    let mut unreadable = 0;
    if args.all {
        for row in parked {
            match row.summary {
                Some(_) => seqs.push(row.seq),
                None => unreadable += 1,
            }
        }
    } else {
        for &seq in &args.seq {
            let row = parked
                .iter()
                .find(|r| r.seq == seq)
                .ok_or(GroupCommandError::NotParked(seq))?;
            if row.summary.is_none() {
                return Err(GroupCommandError::UnreadableParked(seq));
            }
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    seqs.dedup();
    Ok((seqs, unreadable))
}

/// The listing `outbox parked` prints.
pub fn format_list(rows: &[ParkedRow]) -> String {
    let mut out = String::from("seq\ttopic\tkey\tbytes\tce_type\tce_id\twritten\n");
    for row in rows {
        let _ = match &row.summary {
            Some(r) => {
                let written = chrono::DateTime::from_timestamp_millis(r.created_ms)
                    .map_or_else(|| r.created_ms.to_string(), |t| t.to_rfc3339());
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{written}",
                    row.seq, r.topic, r.key, row.bytes, r.ce_type, r.ce_id
                )
            }
            None => writeln!(
                out,
                "{}\t(does not decode)\t-\t{}\t-\t-\t-",
                row.seq, row.bytes
            ),
        };
    }
    let _ = writeln!(out, "{} parked row(s)", rows.len());
    out
}

#[cfg(test)]
mod tests;
