//! A mock partition log for the loop's offset tests: records, markers, withheld answers, and
//! the offset and time of every fetch.
use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use futures::future::BoxFuture;

use super::{answer, rec};
use crate::{
    consumer::source::{PartitionSource, SourceError},
    kafka::protocol::{FetchError, Fetched, OffsetQuery},
};

/// A partition whose records `r<offset>` run from `earliest` to `end` (its high watermark),
/// one batch of three per fetch; notes the offset of every fetch (when polled: a fetch future
/// that is made but not driven asks nothing). From an offset past `end` it answers nothing, as
/// a broker may instead of OFFSET_OUT_OF_RANGE; from `end` (or from `open_from`) on it answers
/// nothing after a long poll of `end_poll`.
pub(super) struct Log {
    pub(super) earliest: i64,
    pub(super) end: i64,
    pub(super) end_poll: Duration,
    /// From this offset to `end` the log holds transaction markers, no records: an answer
    /// holds none but ends past them.
    pub(super) markers_from: Option<i64>,
    /// Below `end` every answer is empty, with no batch (a broker that never returns them).
    pub(super) withheld: bool,
    /// From this offset to `end` a transaction is open: it is the last stable offset, where a
    /// read_committed answer stops.
    pub(super) open_from: Option<i64>,
    /// Below `end` the first answers are empty, this many (a broker that gives the high
    /// watermark of a record it does not return yet).
    pub(super) empty_first: AtomicU32,
    /// `offset` fails this many times first.
    pub(super) offset_failures: AtomicU32,
    /// How long `offset` takes to answer (a broker that holds the request).
    pub(super) offset_delay: Duration,
    /// The first this-many fetches are answered as throttled (Kafka's answer over a quota).
    pub(super) throttled_first: AtomicU32,
    /// The first this-many answers hold nothing and give `earliest` as the high watermark (a
    /// leader elected moments ago, whose high watermark is behind its log).
    pub(super) behind_first: AtomicU32,
    /// The offset of each fetch and when it was polled (tokio's clock, which a paused test's
    /// sleeps advance).
    pub(super) fetches: parking_lot::Mutex<Vec<(i64, tokio::time::Instant)>>,
}

impl Log {
    pub(super) fn new(earliest: i64, end: i64) -> Self {
        Self {
            earliest,
            end,
            end_poll: Duration::from_millis(20),
            markers_from: None,
            withheld: false,
            open_from: None,
            empty_first: AtomicU32::new(0),
            offset_failures: AtomicU32::new(0),
            offset_delay: Duration::ZERO,
            throttled_first: AtomicU32::new(0),
            behind_first: AtomicU32::new(0),
            fetches: parking_lot::Mutex::default(),
        }
    }

    pub(super) fn fetches(&self) -> Vec<i64> {
        self.fetches
            .lock()
            .iter()
            .map(|&(offset, _)| offset)
            .collect()
    }

    /// When each fetch was polled.
    pub(super) fn fetch_times(&self) -> Vec<tokio::time::Instant> {
        self.fetches.lock().iter().map(|&(_, at)| at).collect()
    }

    /// How often it was asked for `offset`.
    pub(super) fn asked(&self, offset: i64) -> usize {
        self.fetches
            .lock()
            .iter()
            .filter(|&&(o, _)| o == offset)
            .count()
    }
}

impl PartitionSource for Arc<Log> {
    fn fetch(&self, offset: i64, _: i32, _: i32) -> BoxFuture<'_, Result<Fetched, SourceError>> {
        Box::pin(async move {
            self.fetches
                .lock()
                .push((offset, tokio::time::Instant::now()));
            let throttled = self
                .throttled_first
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if throttled {
                return Err(SourceError::Fetch(FetchError::Throttled));
            }
            let stable = self.open_from.unwrap_or(self.end);
            // Nothing readable from here: a broker holds the fetch for its wait.
            if offset >= stable {
                tokio::time::sleep(self.end_poll).await;
            }
            let answer = |records, next_offset| Fetched {
                last_stable_offset: stable,
                ..answer(records, next_offset, self.end)
            };
            let behind = self
                .behind_first
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if behind {
                return Ok(Fetched {
                    high_watermark: self.earliest,
                    last_stable_offset: self.earliest,
                    ..answer(vec![], None)
                });
            }
            let withheld = offset < self.end
                && self
                    .empty_first
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
            if offset >= stable || self.withheld || withheld {
                return Ok(answer(vec![], None));
            }
            let from = offset.max(self.earliest);
            let upto = stable.min(from + 3);
            let records = (from..upto)
                .filter(|&o| self.markers_from.is_none_or(|m| o < m))
                .map(|o| rec(o, &format!("r{o}")));
            Ok(answer(records.collect(), Some(upto)))
        })
    }

    fn offset(&self, query: OffsetQuery) -> BoxFuture<'_, Result<i64, SourceError>> {
        Box::pin(async move {
            tokio::time::sleep(self.offset_delay).await;
            let failing = self
                .offset_failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failing {
                return Err(SourceError::OutOfRange);
            }
            Ok(match query {
                OffsetQuery::Earliest => self.earliest,
                // read_committed: the log ends where a transaction is open.
                OffsetQuery::Latest => self.open_from.unwrap_or(self.end),
                OffsetQuery::HighWatermark | OffsetQuery::At(_) => self.end,
            })
        })
    }
}
