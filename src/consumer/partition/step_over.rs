//! Where the broker says a batch we cannot read ends, when it numbers it past our reading.
//!
//! A broker returns, for a fetch from offset `o`, the batch that holds `o`, from its start. A
//! batch we cannot read whose last offset, as we read it, is before `o` is one the broker
//! numbers otherwise: Nisshi reads an old-format message (magic 0 or 1, one offset as that
//! format numbers it) with the fields of a v2 batch header, and counts it as many offsets as
//! those bytes say. The partition dead-lettered it at its first offset and asks from the next,
//! which the broker answers with the same batch; asking again changes nothing, for good.
//!
//! So the partition asks the broker where the batch ends: from `o` on, the offsets the broker
//! answers with the same bytes are the batch's, and the first one answered with anything else
//! (a record at or past it, a batch further on, the log's end) is past it. Steps that double,
//! then halves between the last offset inside and the first past: about two fetches per bit
//! of the distance, under 130 for any offset. An answer that says neither (a failed fetch, an
//! empty one below the high watermark, the batch readable now or as ending at or past the
//! offset asked) ends the search without an answer, and the partition asks again as before.
use std::future::Future;

use crate::kafka::{protocol::Fetched, records::Unreadable};

/// What one fetch from an offset said about the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Probe {
    /// The same bytes, read as ending before the offset asked: the offset is the batch's.
    Inside,
    /// Something else at or after the offset: the batch ends before it.
    Past,
    /// Neither: the search stops.
    Unsure,
}

/// What the answer `fetched` to a fetch from `at` says of `batch`.
pub(super) fn probe(batch: &Unreadable, at: i64, fetched: &Fetched) -> Probe {
    if fetched.records.iter().any(|r| r.offset >= at) {
        return Probe::Past;
    }
    match &fetched.unreadable {
        Some(u) if u.base_offset == batch.base_offset && u.raw == batch.raw => {
            if u.last_offset < at && fetched.records.is_empty() {
                Probe::Inside
            } else {
                Probe::Unsure
            }
        }
        Some(u) if u.base_offset > batch.base_offset => Probe::Past,
        Some(_) => Probe::Unsure,
        None if fetched.records.is_empty() && at >= fetched.high_watermark => Probe::Past,
        // Batches that hold nothing for us (transaction markers, a batch compaction emptied)
        // from `at` on: not the batch.
        None if fetched.next_offset.is_some_and(|next| next > at) => Probe::Past,
        None => Probe::Unsure,
    }
}

/// The first offset after `inside` (an offset the broker answered with the batch) that it does
/// not answer with the batch, looked up with `ask` (what a fetch from an offset says); offsets
/// from `end` (the high watermark) on are past it. `None` when an answer was [`Probe::Unsure`].
pub(super) async fn end<F, R>(mut inside: i64, end: i64, mut ask: F) -> Option<i64>
where
    F: FnMut(i64) -> R,
    R: Future<Output = Probe>,
{
    let mut past = None;
    let mut step = 1i64;
    while past.is_none() {
        let at = inside.saturating_add(step);
        if at >= end {
            // The batch reaches the log's end, unless the answer's high watermark is stale.
            past = Some(end).filter(|end| *end > inside);
            break;
        }
        match ask(at).await {
            Probe::Inside => {
                inside = at;
                step = step.saturating_mul(2);
            }
            Probe::Past => past = Some(at),
            Probe::Unsure => return None,
        }
    }
    let mut past = past?;
    while past - inside > 1 {
        let middle = inside + (past - inside) / 2;
        match ask(middle).await {
            Probe::Inside => inside = middle,
            Probe::Past => past = middle,
            Probe::Unsure => return None,
        }
    }
    Some(past)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A log where the batch spans `[5, last]` as the broker numbers it.
    fn ask(last: i64, asked: &AtomicUsize) -> impl FnMut(i64) -> std::future::Ready<Probe> + '_ {
        move |at| {
            asked.fetch_add(1, Ordering::Relaxed);
            std::future::ready(if at <= last {
                Probe::Inside
            } else {
                Probe::Past
            })
        }
    }

    #[tokio::test]
    async fn finds_the_first_offset_past_the_batch_in_about_two_fetches_a_bit() {
        for last in [6, 7, 8, 100, 1_000_003, i64::from(i32::MAX)] {
            let asked = AtomicUsize::new(0);
            let found = end(6, i64::MAX, ask(last, &asked)).await;
            assert_eq!(found, Some(last + 1), "batch ending at {last}");
            let bits = 64 - (last - 5).leading_zeros() as usize;
            assert!(asked.into_inner() <= 2 * bits + 2, "batch ending at {last}");
        }
    }

    #[tokio::test]
    async fn stops_at_the_high_watermark() {
        let asked = AtomicUsize::new(0);
        assert_eq!(end(6, 40, ask(1_000, &asked)).await, Some(40));
        let asked = AtomicUsize::new(0);
        assert_eq!(end(6, 7, ask(1_000, &asked)).await, Some(7));
        assert_eq!(asked.into_inner(), 0, "nothing to ask");
        let asked = AtomicUsize::new(0);
        assert_eq!(
            end(6, 6, ask(1_000, &asked)).await,
            None,
            "a stale high watermark"
        );
    }

    #[tokio::test]
    async fn an_unsure_answer_gives_no_end() {
        let found = end(6, i64::MAX, |at| {
            std::future::ready(if at < 20 {
                Probe::Inside
            } else {
                Probe::Unsure
            })
        })
        .await;
        assert_eq!(found, None);
    }
}
