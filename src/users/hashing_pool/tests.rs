use super::*;

fn gauge(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap()
}

#[test]
fn the_pool_times_its_hashes_and_keeps_its_size_once_started() {
    let (held, waited) = (METRICS.hash.count(), METRICS.wait.count());
    assert_eq!(on_pool(|| 7).unwrap(), 7);
    assert!(METRICS.hash.count() > held);
    assert!(METRICS.wait.count() > waited);
    let size = set_hashing_threads(0).unwrap();
    assert_eq!(set_hashing_threads(size), Ok(size), "the size it has");
    assert_eq!(
        set_hashing_threads(size + 1),
        Err(size),
        "started: its size stays"
    );

    let mut text = String::new();
    render_hashing_metrics(&mut text);
    assert!(gauge(&text, "usercenter_password_hashing_threads") >= 1);
    assert!(gauge(&text, "usercenter_password_hash_seconds_count") >= 1);
    assert!(text.contains("# TYPE usercenter_password_hash_wait_seconds histogram"));
}

#[test]
fn a_hash_that_panics_is_counted_out_with_its_thread() {
    assert_eq!(on_pool(|| 1).unwrap(), 1, "the pool runs");
    let threads = THREADS_RUNNING.load(Ordering::Relaxed);
    let answer = on_pool(|| -> u8 { panic!("a hash that panics") });
    assert!(matches!(answer, Err(UserError::HashingStopped)));
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    while THREADS_RUNNING.load(Ordering::Relaxed) != threads - 1 {
        assert!(
            Instant::now() < deadline,
            "the thread that panicked is still counted"
        );
        std::thread::yield_now();
    }
    assert_eq!(
        PENDING.load(Ordering::Relaxed),
        0,
        "no hash is left pending"
    );
}
