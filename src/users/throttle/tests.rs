use super::*;

#[test]
fn attempts_in_flight_count_until_they_succeed() {
    let t = Throttle::new(2, Duration::from_secs(600), 10);
    assert!(t.try_attempt("ip"));
    assert!(t.try_attempt("ip"));
    assert!(
        !t.try_attempt("ip"),
        "two guesses in flight use up the limit"
    );
    t.succeeded("ip");
    assert!(t.try_attempt("ip"));
}

#[test]
fn refuses_after_the_limit_and_stays_bounded() {
    let t = Throttle::new(3, Duration::from_secs(600), 2);
    for _ in 0..3 {
        assert!(t.allowed("ada"));
        t.failed("ada");
    }
    assert!(!t.allowed("ada"));
    assert!(t.allowed("bob"));
    t.failed("bob");
    t.failed("eve"); // a third key: the stalest one goes
    assert_eq!(t.failures.lock().len(), 2);
    t.clear("eve");
    assert!(t.allowed("eve"));
}
