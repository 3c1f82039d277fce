//! The WARN lines of a failure that repeats while an outage lasts (a fetch from a broker that
//! is down, a store transaction while the database is), rate-limited: the first failure of a
//! streak is said at once, then one line per [`SAY_EVERY`] with how many were left out, and
//! the end of the streak once, at INFO, with how long it lasted. The metrics count every
//! failure; the log says when it began, that it goes on, and when it ended.
use std::time::Duration;

use tokio::time::Instant;

/// How often a failure that goes on is said again.
pub(crate) const SAY_EVERY: Duration = Duration::from_secs(30);

/// One place's run of failures in a row.
#[derive(Debug, Default)]
pub(crate) struct FailureStreak {
    /// When the first failure of the streak happened.
    since: Option<Instant>,
    /// When a line was last written.
    said_at: Option<Instant>,
    /// Failures in the streak.
    failures: u64,
    /// Failures not said since the last line.
    left_out: u64,
}

/// What a failure's line says besides the error, when it gets one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Said {
    /// Failures left out since the last line.
    pub(crate) left_out: u64,
    /// How long the streak has lasted.
    pub(crate) failing_for: Duration,
}

/// How a streak ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ended {
    /// Failures in the streak.
    pub(crate) failures: u64,
    /// How long it lasted.
    pub(crate) lasted: Duration,
}

impl FailureStreak {
    /// A failure at `now`: `Some` when it gets a line.
    pub(crate) fn failed(&mut self, now: Instant) -> Option<Said> {
        let since = *self.since.get_or_insert(now);
        self.failures += 1;
        let due = self
            .said_at
            .is_none_or(|at| now.saturating_duration_since(at) >= SAY_EVERY);
        if !due {
            self.left_out += 1;
            return None;
        }
        self.said_at = Some(now);
        Some(Said {
            left_out: std::mem::take(&mut self.left_out),
            failing_for: now.saturating_duration_since(since),
        })
    }

    /// A success at `now`: `Some` when it ends a streak that had more than one failure (a
    /// lone failure said enough), to be said once.
    pub(crate) fn succeeded(&mut self, now: Instant) -> Option<Ended> {
        let since = self.since.take()?;
        let failures = std::mem::take(&mut self.failures);
        self.said_at = None;
        self.left_out = 0;
        (failures > 1).then(|| Ended {
            failures,
            lasted: now.saturating_duration_since(since),
        })
    }
}

/// Notes a failure now in the [`FailureStreak`] `$streak` and logs it with the `tracing` fields
/// and message that follow: at WARN, with `left_out` and `failing_s`, when the streak gives it
/// a line, else at DEBUG.
macro_rules! say_failure {
    ($streak:expr, $($arg:tt)+) => {
        match $streak.failed(tokio::time::Instant::now()) {
            Some(said) => tracing::warn!(
                left_out = said.left_out,
                failing_s = said.failing_for.as_secs(),
                $($arg)+
            ),
            None => tracing::debug!($($arg)+),
        }
    };
}

/// Notes a success now in the [`FailureStreak`] `$streak` and, when it ends a streak, logs so
/// at INFO with `failures` and `lasted_s` and the `tracing` fields and message that follow.
macro_rules! say_recovery {
    ($streak:expr, $($arg:tt)+) => {
        if let Some(end) = $streak.succeeded(tokio::time::Instant::now()) {
            tracing::info!(
                failures = end.failures,
                lasted_s = end.lasted.as_secs(),
                $($arg)+
            );
        }
    };
}

pub(crate) use {say_failure, say_recovery};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_is_said_then_one_line_per_period_then_the_end() {
        let t0 = Instant::now();
        let mut streak = FailureStreak::default();
        let first = streak.failed(t0).unwrap();
        assert_eq!((first.left_out, first.failing_for), (0, Duration::ZERO));
        // Every 500 ms for a minute: two more lines, each with what it left out.
        let mut lines = Vec::new();
        for i in 1..=120u32 {
            if let Some(said) = streak.failed(t0 + Duration::from_millis(500) * i) {
                lines.push(said);
            }
        }
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].left_out, 59);
        assert_eq!(lines[0].failing_for, SAY_EVERY);
        assert_eq!(lines[1].left_out, 59);
        let end = streak.succeeded(t0 + Duration::from_secs(61)).unwrap();
        assert_eq!(end.failures, 121);
        assert_eq!(end.lasted, Duration::from_secs(61));
        // A new streak starts from nothing.
        assert_eq!(streak.succeeded(t0 + Duration::from_secs(62)), None);
        let again = streak.failed(t0 + Duration::from_secs(63)).unwrap();
        assert_eq!((again.left_out, again.failing_for), (0, Duration::ZERO));
    }

    #[test]
    fn a_lone_failure_has_no_end_line() {
        let t0 = Instant::now();
        let mut streak = FailureStreak::default();
        assert!(streak.failed(t0).is_some());
        assert_eq!(streak.succeeded(t0 + Duration::from_secs(1)), None);
    }
}
