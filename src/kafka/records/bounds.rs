//! Where a Fetch answer's batches may lie. A batch's base offset is outside its CRC-32C (the
//! broker writes it when it appends), so damage on the way to it passes every other check:
//! a base offset lowered puts the batch before the offset asked for, and the partition would
//! go on past records it never handled; one raised far puts it past the log's end, and the
//! partition would store an offset the broker refuses (OFFSET_OUT_OF_RANGE, a reset, the whole
//! log read again). A broker answers a Fetch from `from` with the batch that holds `from` and
//! those after it, in order. A batch that is not so is out of place ([`Misplaced`]), and the
//! answer is asked for again ([`super::read_within`]).
//!
//! The high watermark an answer reports bounds less than it seems: Kafka reads it before the
//! records, and batches appended meanwhile come too. So a batch that ends past it is out of
//! place only when it also leaves a gap after the batch ahead of it (or after the offset asked
//! for): what is appended follows the log's end without one, and compaction leaves gaps only
//! at or below the high watermark.
//!
//! A batch that cannot be read ([`super::Unreadable`]) is held to the same rules but the first:
//! a broker may count it as longer than its header says (Nisshi reads an old-format message
//! with a newer header's fields), and the consumer steps over such a batch where it ends before
//! the offset asked for.
//!
//! What this cannot see: damage that leaves every batch in place, say a base offset one off
//! into a compacted log's gap, or one lower in the first batch that still ends past the offset
//! asked for. Over TLS every byte is under a MAC, base offsets too.

/// The offsets an answer's batches may hold: a Fetch from `from` of a log whose high watermark
/// the answer reported as `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The offset the Fetch asked for: the first batch ends after it.
    pub from: i64,
    /// The answer's high watermark: a batch that ends past it follows the one ahead of it (or
    /// the offset asked for) without a gap.
    pub end: i64,
}

/// How a batch is out of place, and which batches may be the damaged one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Misplaced {
    /// This batch alone: it ends before the offset asked for, or past the high watermark
    /// after a gap.
    Alone(&'static str),
    /// This batch or the one ahead of it: it starts before that one ends.
    WithTheOneAhead(&'static str),
}

impl Misplaced {
    /// Why it is out of place.
    pub(super) fn why(self) -> &'static str {
        match self {
            Self::Alone(why) | Self::WithTheOneAhead(why) => why,
        }
    }
}

impl Bounds {
    /// No bounds: a record set read on its own (a test, a tool).
    pub const ANY: Self = Self {
        from: i64::MIN,
        end: i64::MAX,
    };

    /// How a batch from `base` to `next` (the offset after it) is out of place in the answer,
    /// after the batches that ended at `after` (`None` for the answer's first batch); `None`
    /// when it is in place. One that cannot be read (`readable` false) may end before the
    /// offset asked for.
    pub(super) fn misplaced(
        self,
        base: i64,
        next: i64,
        after: Option<i64>,
        readable: bool,
    ) -> Option<Misplaced> {
        let follows = after.unwrap_or(self.from);
        match after {
            Some(after) if base < after => Some(Misplaced::WithTheOneAhead(
                "a base offset before the end of the batch ahead of it in the answer",
            )),
            None if readable && next <= self.from => Some(Misplaced::Alone(
                "a first batch that ends before the offset asked for",
            )),
            _ if base > follows && next > self.end => Some(Misplaced::Alone(
                "a gap before it, and offsets past the answer's high watermark",
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_in_place_from_the_offset_asked_for_on_and_past_the_high_watermark_without_gaps() {
        let bounds = Bounds {
            from: 100,
            end: 120,
        };
        // The first batch may start before the offset asked for, and end at the log's end.
        assert_eq!(bounds.misplaced(95, 101, None, true), None);
        assert_eq!(bounds.misplaced(110, 120, Some(101), true), None);
        // Appended after the high watermark was read: it follows without a gap.
        assert_eq!(bounds.misplaced(120, 125, Some(120), true), None);
        let at_the_end = Bounds {
            from: 120,
            end: 120,
        };
        assert_eq!(at_the_end.misplaced(120, 125, None, true), None);
        // A gap below the high watermark is compaction's.
        assert_eq!(bounds.misplaced(115, 118, Some(110), true), None);

        let alone = |m: Option<Misplaced>| matches!(m, Some(Misplaced::Alone(_)));
        assert!(
            alone(bounds.misplaced(36, 46, None, true)),
            "ends before 100"
        );
        // One that cannot be read may: the consumer steps over it.
        assert_eq!(bounds.misplaced(36, 46, None, false), None);
        assert!(alone(bounds.misplaced(1 << 40, (1 << 40) + 1, None, false)));
        assert!(alone(bounds.misplaced(1 << 40, (1 << 40) + 10, None, true)));
        assert!(
            alone(bounds.misplaced(121, 125, Some(120), true)),
            "a gap past the end"
        );
        assert!(
            alone(bounds.misplaced(115, 125, Some(110), true)),
            "a gap, then past the end"
        );
        assert!(matches!(
            bounds.misplaced(36, 101, Some(101), true),
            Some(Misplaced::WithTheOneAhead(_))
        ));
        assert_eq!(
            Bounds::ANY.misplaced(i64::MIN, i64::MIN + 1, None, true),
            None
        );
        assert_eq!(Bounds::ANY.misplaced(0, i64::MAX, Some(0), true), None);
    }
}
