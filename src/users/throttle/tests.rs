use std::sync::{Arc, Barrier};

use super::*;

/// What the state holds now: keys, windows and queue slots, by their allocated room.
fn used_bytes(t: &Throttle) -> usize {
    let s = t.state.lock();
    s.map.capacity() * (size_of::<Key>() + size_of::<Window>())
        + s.map
            .values()
            .map(|w| w.times.capacity() * size_of::<Instant>())
            .sum::<usize>()
        + s.queue.capacity() * size_of::<(Key, u64)>()
}

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
    t.clear("ip");
    assert!(t.state.lock().map.is_empty());
}

#[test]
fn a_concurrent_burst_gets_exactly_the_limit_through() {
    let t = Arc::new(Throttle::new(5, Duration::from_secs(600), 10_000));
    for round in 0..50 {
        let key = format!("victim-{round}");
        let start = Arc::new(Barrier::new(16));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (t, start, key) = (Arc::clone(&t), Arc::clone(&start), key.clone());
                std::thread::spawn(move || {
                    start.wait();
                    t.try_attempt(&key)
                })
            })
            .collect();
        let through = threads
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(through, 5, "round {round}");
    }
}

#[test]
fn huge_attacker_chosen_keys_take_bounded_room() {
    let t = Throttle::new(5, Duration::from_secs(600), 1_000);
    let mut name = "x".repeat(4 * 1024);
    for n in 0..5_000 {
        name.truncate(4 * 1024 - 8);
        name.push_str(&format!("{n:08}"));
        assert!(t.try_attempt(&name));
    }
    assert_eq!(t.state.lock().map.len(), 1_000);
    assert!(t.state.lock().queue.len() <= 2_000);
    // `used_bytes` counts a key by its size in place: a key that owned heap memory (the name
    // as sent) would hide it.
    assert!(
        !std::mem::needs_drop::<Key>(),
        "a stored key owns memory used_bytes does not count"
    );
    let used = used_bytes(&t);
    assert!(
        used <= t.max_bytes(),
        "{used} bytes held, bound {}",
        t.max_bytes()
    );
    assert!(t.max_bytes() < 1024 * 1024, "{}", t.max_bytes());
}

#[test]
fn the_first_inserted_key_is_evicted_first() {
    let t = Throttle::new(3, Duration::from_secs(600), 2);
    for _ in 0..3 {
        assert!(t.try_attempt("ada"));
    }
    assert!(!t.try_attempt("ada"));
    assert!(t.try_attempt("bob"));
    assert!(t.try_attempt("eve")); // a third key: ada, inserted first, goes
    assert_eq!(t.state.lock().map.len(), 2);
    assert!(t.try_attempt("ada"), "ada was forgotten");
}

#[test]
fn expired_windows_are_dropped_without_being_asked_for() {
    let t = Throttle::new(3, Duration::from_millis(20), 100);
    assert!(t.try_attempt("gone"));
    std::thread::sleep(Duration::from_millis(40));
    assert!(t.try_attempt("other"));
    let state = t.state.lock();
    assert!(!state.map.contains_key(&key_of("gone")));
    assert_eq!(state.map.len(), 1);
}
