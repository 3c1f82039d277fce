use super::*;

fn counted(ends: &[(u32, bool)]) -> (u64, u64, u64) {
    let c = ConflictCounts::default();
    for &(attempts, given_up) in ends {
        c.count(attempts, given_up);
    }
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    (get(&c.retries), get(&c.retried), get(&c.given_up))
}

#[test]
fn every_connection_gets_a_tcp_user_timeout_unless_the_url_sets_one() {
    let ours = connect::parse("postgres://u@db.internal:5432/uc").unwrap();
    assert_eq!(ours.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
    assert_eq!(ours.get_keepalives_idle(), Duration::from_secs(10));
    let theirs = connect::parse("postgres://u@db.internal:5432/uc?tcp_user_timeout=5").unwrap();
    assert_eq!(theirs.get_tcp_user_timeout(), Some(&Duration::from_secs(5)));
    // The server's end of each connection gets the same, as a session setting.
    assert!(
        ours.get_options()
            .is_some_and(|o| o.ends_with(" -c tcp_user_timeout=30000")),
        "{:?}",
        ours.get_options()
    );
    assert!(
        theirs
            .get_options()
            .is_some_and(|o| o.ends_with(" -c tcp_user_timeout=5000")),
        "{:?}",
        theirs.get_options()
    );
}

#[test]
fn a_write_that_ran_once_counts_no_conflict() {
    assert_eq!(counted(&[(1, false), (1, false)]), (0, 0, 0));
}

#[test]
fn every_attempt_before_the_last_was_a_conflict() {
    assert_eq!(counted(&[(3, false), (2, false)]), (3, 2, 0));
}

#[test]
fn a_write_given_up_ran_every_attempt_but_the_first_again() {
    assert_eq!(
        counted(&[(ATTEMPTS, true)]),
        (u64::from(ATTEMPTS - 1), 1, 1)
    );
}
