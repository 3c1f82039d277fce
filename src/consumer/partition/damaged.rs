//! A batch whose CRC does not match, fetched twice with the same bytes: the log holds it so.
//!
//! A mismatch may be damage on the way (a faulty NIC or proxy; TCP's checksum misses some),
//! which asking again mends, or in the log: a broker that does not check what it is sent
//! (Nisshi logs a mismatch and stores the batch) or a damaged disk, which asking again never
//! mends. So the first mismatch is asked again, and when the same bytes come back the batch is
//! [`Unreadable`]: one dead letter, after which the partition goes on.
use bytes::Bytes;

use super::super::source::SourceError;
use crate::kafka::{
    protocol::{FetchError, Fetched},
    records::{RecordsError, Unreadable},
};

/// The bytes of the last mismatch, if the last answer was one.
#[derive(Debug, Default)]
pub(super) struct Damaged {
    last: Option<Bytes>,
}

impl Damaged {
    /// What an answer to a fetch from `offset` stands for: a mismatch whose bytes the last
    /// answer held too is an answer of one unreadable batch, which ends past `offset`; any
    /// other answer stands for itself.
    pub(super) fn check(
        &mut self,
        offset: i64,
        fetched: Result<Fetched, SourceError>,
    ) -> Result<Fetched, SourceError> {
        let Err(SourceError::Fetch(FetchError::Records {
            error:
                RecordsError::Crc {
                    offset: base,
                    last_offset,
                    raw,
                },
            high_watermark,
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
        // The broker answered `offset` with this batch, whatever its (damaged) header says.
        let last_offset = (*last_offset).max(offset);
        Ok(Fetched {
            records: Vec::new(),
            next_offset: None,
            unreadable: Some(Unreadable::damaged(*base, last_offset, raw.clone())),
            high_watermark: *high_watermark,
            last_stable_offset: *high_watermark,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mismatch(raw: &'static [u8]) -> Result<Fetched, SourceError> {
        Err(SourceError::Fetch(FetchError::Records {
            error: RecordsError::Crc {
                offset: 5,
                last_offset: 7,
                raw: Bytes::from_static(raw),
            },
            high_watermark: 20,
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
}
