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
fn a_hash_or_thread_that_panics_is_counted_out() {
    // Counts of their own: the pool's are shared with every test of this process.
    static PENDING_HERE: AtomicUsize = AtomicUsize::new(2);
    static RUNNING_HERE: AtomicUsize = AtomicUsize::new(3);
    let unwound = std::panic::catch_unwind(|| {
        let _running = Running(&RUNNING_HERE);
        let _finished = Finished(&PENDING_HERE);
        panic!("a hash that panics");
    });
    assert!(unwound.is_err());
    assert_eq!(
        PENDING_HERE.load(Ordering::Relaxed),
        1,
        "the hash counted out"
    );
    assert_eq!(
        RUNNING_HERE.load(Ordering::Relaxed),
        2,
        "its thread counted out"
    );
}

#[test]
fn a_hashing_thread_keeps_its_area_between_hashes_and_drops_it_when_idle() {
    let jobs = Arc::new(Handoff::<Job>::new());
    let keep = Duration::from_millis(100);
    let thread = std::thread::spawn({
        let jobs = Arc::clone(&jobs);
        move || hashing_thread(&jobs, keep)
    });
    // What the thread holds as a job runs there.
    let ask = |use_area: bool| {
        let (answer, answered) = mpsc::sync_channel(1);
        PENDING.fetch_add(1, Ordering::AcqRel);
        let sent = jobs.send(Box::new(move || {
            let before = working_area::held();
            if use_area {
                working_area::with_hasher(|hasher| hasher.reserve()).unwrap();
            }
            let _ = answer.send(before);
        }));
        assert!(sent.is_ok());
        answered.recv().unwrap()
    };
    assert!(!ask(true), "no area before the first hash");
    assert!(
        ask(false),
        "kept from the hash before, well within the wait"
    );
    std::thread::sleep(keep * 3);
    assert!(!ask(false), "dropped after the wait with no hash");
    jobs.close();
    thread.join().unwrap();
}
