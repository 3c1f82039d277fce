use std::time::Duration;

use super::take::{holder_name, is_ours, wait_for};
use crate::pgstore::lease::TERM;

#[test]
fn every_session_has_a_name_of_its_own_that_its_process_knows_as_its_own() {
    let process = uuid::Uuid::new_v4();
    let other = uuid::Uuid::new_v4();
    let (first, second) = (holder_name(process), holder_name(process));
    assert_ne!(first, second, "a new name with every session");
    assert!(is_ours(process, first) && is_ours(process, second));
    assert!(!is_ours(other, first), "another process's name is not ours");
    assert!(!is_ours(process, holder_name(other)));
}

/// A take waits out the rest of another process's term, never more than a term; not its own
/// process's holder's, unless that holder's session was dropped after a take that failed
/// (which may have committed, taking the lease from another process still relaying).
#[test]
fn a_take_waits_for_other_processes_and_for_its_own_abandoned_sessions() {
    let process = uuid::Uuid::new_v4();
    let (ours, abandoned) = (holder_name(process), holder_name(process));
    let theirs = holder_name(uuid::Uuid::new_v4());
    assert_eq!(wait_for(process, &[abandoned], ours, 6.0), Duration::ZERO);
    assert_eq!(
        wait_for(process, &[abandoned], abandoned, 6.0),
        Duration::from_secs(6)
    );
    assert_eq!(wait_for(process, &[], theirs, 6.0), Duration::from_secs(6));
    assert_eq!(wait_for(process, &[], theirs, 600.0), TERM);
    assert_eq!(wait_for(process, &[], theirs, -1.0), Duration::ZERO);
}
