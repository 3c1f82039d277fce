//! A batch that looks damaged, fetched twice with the same bytes: the log holds it so.
//!
//! A CRC mismatch, or a magic we do not know (a byte the CRC does not cover), may be damage on
//! the way (a faulty NIC or proxy; TCP's checksum misses some), which asking again mends, or in
//! the log: a damaged disk under the broker, which asking again never mends (brokers check a
//! batch's CRC when it is produced). So the first such answer is asked again, and when the same
//! bytes come back the batch is [`Unreadable`]: one dead letter, after which the partition
//! goes on.
//!
//! Where it ends is its header's word, which may be damaged too: it ends before the batch that
//! follows it in the answer ([`RecordsError::Damaged`]) and before the last stable offset. When
//! its base offset says it starts after the offset asked for (the broker answered that offset
//! with it), it starts there, and it ends there too unless a batch after it bounds it.
use bytes::Bytes;

use super::super::source::SourceError;
use crate::kafka::{
    protocol::{FetchError, Fetched},
    records::{RecordsError, Unreadable},
};

/// The bytes of the last damaged answer, if the last answer was one.
#[derive(Debug, Default)]
pub(super) struct Damaged {
    last: Option<Bytes>,
}

impl Damaged {
    /// What an answer to a fetch from `offset` stands for: a damaged batch whose bytes the
    /// last answer held too is an answer of one unreadable batch, which ends at or past
    /// `offset`; any other answer stands for itself.
    pub(super) fn check(
        &mut self,
        offset: i64,
        fetched: Result<Fetched, SourceError>,
    ) -> Result<Fetched, SourceError> {
        let Err(SourceError::Fetch(FetchError::Records {
            error:
                RecordsError::Damaged {
                    offset: base,
                    last_offset,
                    bounded,
                    raw,
                    why,
                },
            high_watermark,
            last_stable_offset,
        })) = &fetched
        else {
            self.last = None;
            return fetched;
        };
        if self.last.as_ref() != Some(raw) {
            self.last = Some(raw.clone());
            return fetched;
        }
        self.last = None;
        let last = (*last_offset)
            .min(last_stable_offset.saturating_sub(1))
            .max(offset);
        // A base past `offset` is a damaged header's, or an old compressed message's (its
        // last inner offset): its last offset holds only when a batch after it bounds it.
        let (base, last) = match (*base > offset, *bounded) {
            (false, _) => (*base, last),
            (true, true) => (offset, last),
            (true, false) => (offset, offset),
        };
        Ok(Fetched {
            records: Vec::new(),
            next_offset: None,
            unreadable: Some(Unreadable::damaged(base, last, raw.clone(), why)),
            high_watermark: *high_watermark,
            last_stable_offset: *last_stable_offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mismatch(raw: &'static [u8]) -> Result<Fetched, SourceError> {
        damaged_at(5, 7, 20, raw)
    }

    fn damaged_at(
        base: i64,
        last_offset: i64,
        last_stable_offset: i64,
        raw: &'static [u8],
    ) -> Result<Fetched, SourceError> {
        Err(SourceError::Fetch(FetchError::Records {
            error: RecordsError::Damaged {
                offset: base,
                last_offset,
                bounded: last_offset < 1_000,
                raw: Bytes::from_static(raw),
                why: "CRC mismatch",
            },
            high_watermark: 20,
            last_stable_offset,
        }))
    }

    fn unreadable(answer: &Result<Fetched, SourceError>) -> Option<(i64, i64)> {
        let bad = answer.as_ref().ok()?.unreadable.as_ref()?;
        Some((bad.base_offset, bad.last_offset))
    }

    #[test]
    fn the_same_bytes_twice_are_unreadable_other_bytes_are_asked_again() {
        let mut damaged = Damaged::default();
        assert!(damaged.check(5, mismatch(b"one")).is_err());
        // Damage on the way: other bytes the second time.
        assert!(damaged.check(5, mismatch(b"two")).is_err());
        let answer = damaged.check(5, mismatch(b"two"));
        assert_eq!(unreadable(&answer), Some((5, 7)));
        assert_eq!(answer.map(|f| f.high_watermark).ok(), Some(20));
        // Said once: the next mismatch is asked again.
        assert!(damaged.check(5, mismatch(b"two")).is_err());
    }

    #[test]
    fn an_answer_between_two_mismatches_forgets_the_first() {
        let mut damaged = Damaged::default();
        assert!(damaged.check(5, mismatch(b"one")).is_err());
        assert!(damaged.check(5, Ok(Fetched::default())).is_ok());
        assert!(damaged.check(5, mismatch(b"one")).is_err());
    }

    #[test]
    fn the_unreadable_batch_ends_past_the_offset_asked_for() {
        let mut damaged = Damaged::default();
        let _ = damaged.check(9, mismatch(b"one"));
        assert_eq!(
            unreadable(&damaged.check(9, mismatch(b"one"))),
            Some((5, 9))
        );
    }

    /// A damaged header may claim offsets past the log's end, or a base past the offset the
    /// broker answered with it: neither moves the partition past what the answer shows.
    #[test]
    fn a_damaged_header_does_not_move_the_partition_past_the_answer() {
        let twice = |offset, answer: fn() -> Result<Fetched, SourceError>| {
            let mut damaged = Damaged::default();
            let _ = damaged.check(offset, answer());
            unreadable(&damaged.check(offset, answer()))
        };
        assert_eq!(twice(5, || damaged_at(5, 65_000, 20, b"x")), Some((5, 19)));
        assert_eq!(twice(5, || damaged_at(5, 65_000, 8, b"x")), Some((5, 7)));
        assert_eq!(
            twice(5, || damaged_at(9_000_000, 9_000_002, 20, b"x")),
            Some((5, 5))
        );
        assert_eq!(twice(12, || damaged_at(5, 7, 20, b"x")), Some((5, 12)));
        // An old compressed message carries its last inner offset; bounded by the batch after
        // it, it stands for every offset up to there.
        assert_eq!(twice(5, || damaged_at(9, 9, 20, b"x")), Some((5, 9)));
    }
}
