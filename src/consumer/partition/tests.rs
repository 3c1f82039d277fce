//! The pauses after empty answers below the high watermark.
use super::*;

#[test]
fn empty_answers_pause_1_ms_then_twice_as_long_each_up_to_50_ms() {
    let mut empty = EmptyBackoff::new();
    let pauses: Vec<u64> = (0..9)
        .map(|_| u64::try_from(empty.next().as_millis()).unwrap())
        .collect();
    assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 50, 50, 50]);
}
