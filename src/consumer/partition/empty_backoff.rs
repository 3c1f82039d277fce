//! The pauses after empty answers below the high watermark ([`EmptyBackoff`]).
use std::time::Duration;

/// The longest pause after a fetch below the last stable offset that returned nothing
/// ([`EmptyBackoff`]).
const EMPTY_PAUSE: Duration = Duration::from_millis(50);
/// The first such pause.
const FIRST_EMPTY_PAUSE: Duration = Duration::from_millis(1);

/// The pauses after fetches below the last stable offset that return nothing, not even a
/// batch without records: 1 ms after the first, twice as long after each next one at the same
/// offset, [`EMPTY_PAUSE`] at most.
///
/// Such an answer is mostly brief: a broker may give the high watermark of a record it does
/// not return yet. Nisshi 0.8.1 stops listing a partition's batches when the Fetch's wait is
/// over (`nisshi-storage-dynostore`, `DynoStore::fetch`), so on a loaded machine the last look
/// of a long poll, or a prompt Fetch with a short wait, can miss the newest batch: with the
/// lane's prompt Fetch at 1 ms this happened 16 times in one e2e bench run of about 2,900
/// events, each then waiting a whole 50 ms pause. The pauses grow so that a broker that keeps
/// answering so does not make the loop spin.
#[derive(Debug)]
pub(super) struct EmptyBackoff(Duration);

impl EmptyBackoff {
    pub(super) fn new() -> Self {
        Self(FIRST_EMPTY_PAUSE)
    }

    /// The pause after this empty answer; the next one is twice as long.
    pub(super) fn next(&mut self) -> Duration {
        let pause = self.0;
        self.0 = (pause * 2).min(EMPTY_PAUSE);
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_answers_pause_1_ms_then_twice_as_long_each_up_to_50_ms() {
        let mut empty = EmptyBackoff::new();
        let pauses: Vec<u64> = (0..9)
            .map(|_| u64::try_from(empty.next().as_millis()).unwrap())
            .collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 50, 50, 50]);
    }
}
