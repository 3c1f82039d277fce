//! The rate limit of dead-letter lines, on a clock the test moves.
use std::time::{Duration, Instant};

use super::*;

#[test]
fn a_burst_gets_the_limit_of_lines_and_the_rest_are_counted() {
    let log = DeadLetterLog::new(3, Duration::from_secs(1));
    let t0 = Instant::now();
    let burst: Vec<Admit> = (0..10).map(|_| log.admit(t0)).collect();
    let lines = burst
        .iter()
        .filter(|a| matches!(a, Admit::Line { .. }))
        .count();
    assert_eq!(lines, 3);
    assert_eq!(burst[3..], [Admit::Suppressed; 7]);
    // Still the same second: nothing more.
    assert_eq!(
        log.admit(t0 + Duration::from_millis(999)),
        Admit::Suppressed
    );
    // The next second: a line again, saying how many were left out.
    assert_eq!(
        log.admit(t0 + Duration::from_secs(1)),
        Admit::Line { suppressed: 8 }
    );
    assert_eq!(
        log.admit(t0 + Duration::from_secs(1)),
        Admit::Line { suppressed: 0 }
    );
}
