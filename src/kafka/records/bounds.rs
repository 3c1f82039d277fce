//! Where a Fetch answer's batches may lie. A batch's base offset is outside its CRC-32C (the
//! broker writes it when it appends), so damage on the way to it passes every other check:
//! a base offset lowered puts the batch before the offset asked for, and the partition would
//! go on past records it never handled; one raised puts it past the log's end, and the
//! partition would store an offset the broker refuses (OFFSET_OUT_OF_RANGE, a reset, the whole
//! log read again). A broker answers a Fetch from `from` with the batch that holds `from` and
//! those after it, in order, all below the high watermark. A batch that is not so is out of
//! place, and the answer is asked for again ([`super::read_within`]).
//!
//! What this cannot see: damage that leaves every batch in place, say a base offset one lower
//! or higher where a compacted log has gaps, or one lower in the first batch that still ends
//! past the offset asked for. Over TLS every byte is under a MAC, base offsets too.

/// The offsets an answer's batches may hold: a Fetch from `from` of a log that ends at `end`
/// (the answer's high watermark).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The offset the Fetch asked for: the first batch ends at or after it.
    pub from: i64,
    /// The answer's high watermark: every batch ends before it.
    pub end: i64,
}

impl Bounds {
    /// No bounds: a record set read on its own (a test, a tool).
    pub const ANY: Self = Self {
        from: i64::MIN,
        end: i64::MAX,
    };

    /// Why a readable batch from `base` to `next` (the offset after it) is out of place in the
    /// answer, after the batches that ended at `after` (`None` for the answer's first batch);
    /// `None` when it is in place.
    pub(super) fn misplaced(
        self,
        base: i64,
        next: i64,
        after: Option<i64>,
    ) -> Option<&'static str> {
        if after.is_some_and(|after| base < after) {
            Some("a base offset before the batch ahead of it in the answer")
        } else if next > self.end {
            Some("offsets past the answer's high watermark")
        } else if after.is_none() && next <= self.from {
            Some("a first batch that ends before the offset asked for")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_in_place_from_the_offset_asked_for_to_the_high_watermark() {
        let bounds = Bounds {
            from: 100,
            end: 120,
        };
        // The first batch may start before the offset asked for, and end at the log's end.
        assert_eq!(bounds.misplaced(95, 101, None), None);
        assert_eq!(bounds.misplaced(110, 120, Some(101)), None);
        assert!(bounds.misplaced(36, 46, None).is_some(), "ends before 100");
        assert!(bounds.misplaced(36, 101, Some(101)).is_some(), "goes back");
        assert!(
            bounds.misplaced(115, 121, Some(110)).is_some(),
            "past the end"
        );
        assert!(bounds.misplaced(1 << 40, (1 << 40) + 10, None).is_some());
        assert_eq!(Bounds::ANY.misplaced(i64::MIN, i64::MIN + 1, None), None);
        assert_eq!(Bounds::ANY.misplaced(0, i64::MAX, Some(0)), None);
    }
}
