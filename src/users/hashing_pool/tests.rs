use super::*;

fn gauge(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap()
}

#[test]
fn the_pool_times_its_hashes_and_keeps_its_size_once_started() {
    let (held, waited) = (METRICS.hash.count(), METRICS.wait.count());
    assert_eq!(
        on_pool(ticket(&ClientGone::default()).unwrap(), || 7).unwrap(),
        7
    );
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

#[test]
fn places_are_refused_once_the_pool_holds_its_most() {
    // A count of its own: the pool's is shared with every test of this process.
    let pending = AtomicUsize::new(0);
    assert!(take_place(&pending, 2));
    assert!(take_place(&pending, 2));
    assert!(!take_place(&pending, 2), "full");
    assert_eq!(
        pending.load(Ordering::Relaxed),
        2,
        "a refusal counts nothing"
    );
    pending.fetch_sub(1, Ordering::AcqRel);
    assert!(take_place(&pending, 2), "a place came free");
    assert_eq!(default_max_pending(1), 64);
    assert_eq!(default_max_pending(2), 128);
    assert_eq!(default_max_pending(16), 256, "at most 256");
    assert_eq!(default_max_pending(300), 300, "never below the threads");
}

#[test]
fn a_hash_whose_client_is_gone_is_skipped_and_a_ticket_dropped_unused_frees_its_place() {
    let gone = ClientGone::default();
    let ran = Arc::new(AtomicUsize::new(0));
    let place = ticket(&gone).unwrap();
    drop(gone.set_on_drop());
    let skipped = METRICS.skipped.get();
    let counted = Arc::clone(&ran);
    let answer = on_pool(place, move || counted.fetch_add(1, Ordering::SeqCst));
    assert!(matches!(answer, Err(UserError::ClientGone)), "{answer:?}");
    assert_eq!(ran.load(Ordering::SeqCst), 0, "not computed");
    assert!(METRICS.skipped.get() > skipped);

    // Still there: computed.
    let here = ClientGone::default();
    let counted = Arc::clone(&ran);
    let answer = on_pool(ticket(&here).unwrap(), move || {
        counted.fetch_add(1, Ordering::SeqCst)
    });
    assert_eq!(answer.unwrap(), 0);
    assert_eq!(ran.load(Ordering::SeqCst), 1);

    // A ticket dropped unused gives its place back.
    let before = PENDING.load(Ordering::Acquire);
    let place = ticket(&here).unwrap();
    assert_eq!(PENDING.load(Ordering::Acquire), before + 1);
    drop(place);
    assert_eq!(PENDING.load(Ordering::Acquire), before);
}
