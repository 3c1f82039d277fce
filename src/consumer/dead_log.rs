//! The WARN line of each dead letter, rate-limited. A dead letter is a record we gave up on, so
//! an operator must see it in the log with where it came from (topic, partition, offset) and
//! why; but a foreign producer writing garbage can dead-letter thousands of records a second,
//! and the log must not drown in them. So at most [`LINES_PER_SECOND`] lines a second are
//! written; the lines left out are counted and their number is logged with the next line after
//! the second is over. `usercenter_consumer_dead_letters_total` counts every one.
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::warn;

/// Dead-letter lines written per second at most, across the consumer's partitions.
pub(crate) const LINES_PER_SECOND: u32 = 10;

/// The rate limit of dead-letter lines, shared by the partitions of one consumer.
#[derive(Debug)]
pub(crate) struct DeadLetterLog {
    per_window: u32,
    window: Duration,
    state: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    start: Option<Instant>,
    lines: u32,
    suppressed: u64,
}

/// What the limit allows for one dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Write its line; `suppressed` lines were left out in the window before.
    Line {
        /// Lines left out since the last written one.
        suppressed: u64,
    },
    /// Leave it out (counted).
    Suppressed,
}

impl Default for DeadLetterLog {
    fn default() -> Self {
        Self::new(LINES_PER_SECOND, Duration::from_secs(1))
    }
}

impl DeadLetterLog {
    /// At most `per_window` lines per `window`.
    pub(crate) fn new(per_window: u32, window: Duration) -> Self {
        Self {
            per_window,
            window,
            state: Mutex::new(Window::default()),
        }
    }

    /// Whether the dead letter seen at `now` gets a line.
    pub(crate) fn admit(&self, now: Instant) -> Admit {
        let mut w = self.state.lock();
        let mut suppressed = 0;
        if w.start
            .is_none_or(|t| now.saturating_duration_since(t) >= self.window)
        {
            suppressed = std::mem::take(&mut w.suppressed);
            w.start = Some(now);
            w.lines = 0;
        }
        if w.lines < self.per_window {
            w.lines += 1;
            Admit::Line { suppressed }
        } else {
            w.suppressed += 1 + suppressed;
            Admit::Suppressed
        }
    }

    /// Logs the dead letter of `topic`/`partition`/`offset`, sent there because of `reason`,
    /// if the limit allows.
    pub(crate) fn log(&self, topic: &str, partition: i32, offset: i64, reason: &str) {
        if let Admit::Line { suppressed } = self.admit(Instant::now()) {
            if suppressed > 0 {
                warn!(
                    topic,
                    suppressed, "consumer: dead-letter lines left out by the rate limit"
                );
            }
            warn!(
                topic,
                partition, offset, reason, "consumer: record sent to the dead-letter topic"
            );
        }
    }
}

#[cfg(test)]
mod tests;
