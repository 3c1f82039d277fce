//! At and near the log end: an empty answer past it resets to the earliest offset (once); the
//! lag after each fetch; an empty answer below the high watermark pauses, briefly at first, the
//! log end does not.
use super::*;

/// Empty answers past a high watermark that catches up within [`partition::PAST_END_PATIENCE`]
/// (a leader just elected): the loop asks again, and reads on from where it was.
#[tokio::test]
async fn a_high_watermark_behind_for_a_moment_is_waited_for_not_reset() {
    let (_dir, store) = new_store();
    set_stored(&store, 5);
    let ctx = context(&store, Arc::new(NoopHandler));
    let log = Arc::new(Log {
        behind_first: 3.into(),
        ..Log::new(0, 9)
    });
    run_until(&ctx, source(&log), committed(None), |ctx| {
        ctx.metrics.handled.get() == 4
    })
    .await;
    assert_eq!(ctx.metrics.offset_resets.get(), 0, "{:?}", log.fetches());
    assert_eq!(&log.fetches()[..4], &[5, 5, 5, 5]);
    assert_eq!(stored(&store), Some(9));
}

/// Empty answers past the high watermark for longer than that: out of range.
#[tokio::test(start_paused = true)]
async fn an_empty_answer_past_the_log_end_resets_to_the_earliest_offset_once() {
    let (_dir, store) = new_store();
    // The stored offset is past the log's end (the topic was recreated, say).
    set_stored(&store, 10);
    let ctx = context(&store, Arc::new(NoopHandler));
    let log = Arc::new(Log::new(0, 3));
    // Until the loop has asked at the log end three times: it reached the end and stayed.
    run_until(&ctx, source(&log), committed(None), |_| log.asked(3) >= 3).await;
    assert_eq!(ctx.metrics.offset_resets.get(), 1, "{:?}", log.fetches());
    assert_eq!(ctx.metrics.handled.get(), 3);
    assert_eq!(ctx.metrics.duplicates.get(), 0, "nothing read twice");
    let fetches = log.fetches();
    let reset = fetches.iter().position(|&o| o == 0).unwrap();
    assert!(
        reset >= 2 && fetches[..reset].iter().all(|&o| o == 10),
        "{fetches:?}"
    );
    let times = log.fetch_times();
    assert!(times[reset] - times[0] >= partition::PAST_END_PATIENCE);
    assert_eq!(stored(&store), Some(3));
    assert_eq!(ctx.metrics.lag().get(&0), Some(&0), "at the log end");
}

#[tokio::test]
async fn the_lag_is_the_high_watermark_minus_the_next_offset() {
    let (_dir, store) = new_store();
    set_stored(&store, 4);
    let ctx = context(&store, Arc::new(NoopHandler));
    // Offsets 4 to 9 are never returned: every answer is empty, the lag stays.
    let log = Arc::new(Log {
        withheld: true,
        ..Log::new(0, 9)
    });
    run_until(&ctx, source(&log), committed(None), |_| {
        log.fetches().len() >= 2
    })
    .await;
    assert_eq!(ctx.metrics.lag().get(&0), Some(&5));
    assert_eq!(ctx.metrics.offset_resets.get(), 0);
}

/// A log that ends in transaction markers (or a batch compaction emptied): the offset past
/// them is committed, so the lag is 0 and the loop waits at the log end.
#[tokio::test]
async fn batches_without_records_at_the_log_end_are_stepped_over_and_committed() {
    let (_dir, store) = new_store();
    let ctx = context(&store, Arc::new(NoopHandler));
    // Records 0-3, markers 4-8.
    let log = Arc::new(Log {
        markers_from: Some(4),
        ..Log::new(0, 9)
    });
    run_until(&ctx, source(&log), committed(None), |_| {
        stored(&store) == Some(9)
    })
    .await;
    assert_eq!(ctx.metrics.handled.get(), 4);
    assert_eq!(ctx.metrics.lag().get(&0), Some(&0));
    // Batches 0-2, 3-5, 6-8, then the log end.
    assert_eq!(&log.fetches()[..4], &[0, 3, 6, 9]);
    assert_eq!(log.asked(6), 1, "the markers were read once");
}

/// Below the high watermark a broker that never returns the records: the loop pauses between
/// fetches, longer each time, instead of spinning.
#[tokio::test]
async fn below_the_high_watermark_a_lasting_empty_answer_pauses_the_loop() {
    let (_dir, store) = new_store();
    let ctx = context(&store, Arc::new(NoopHandler));
    let log = Arc::new(Log {
        withheld: true,
        ..Log::new(0, 5)
    });
    let started = std::time::Instant::now();
    run_until(&ctx, source(&log), committed(None), |_| {
        started.elapsed() >= Duration::from_millis(500)
    })
    .await;
    let n = log.fetches().len();
    // Pauses of 1, 2, 4, 8, 16 and 32 ms, then 50 ms each: about 16 fetches in 500 ms.
    assert!((2..=20).contains(&n), "{n} fetches in 500 ms");
}

/// A broker that gives the high watermark of a record before it returns the record: the loop
/// asks again after 1 ms, not after the 50 ms a lasting empty answer comes to.
#[tokio::test(start_paused = true)]
async fn below_the_high_watermark_a_brief_empty_answer_is_fetched_again_after_1_ms() {
    let (_dir, store) = new_store();
    let ctx = context(&store, Arc::new(NoopHandler));
    let log = Arc::new(Log {
        empty_first: AtomicU32::new(2),
        ..Log::new(0, 3)
    });
    run_until(&ctx, source(&log), committed(None), |ctx| {
        ctx.metrics.handled.get() == 3
    })
    .await;
    assert_eq!(
        &log.fetches()[..3],
        &[0, 0, 0],
        "two empty answers, then the records"
    );
    let at = log.fetch_times();
    let gaps: Vec<Duration> = at.windows(2).take(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(
        gaps,
        [Duration::from_millis(1), Duration::from_millis(2)],
        "the pauses after the two empty answers"
    );
    assert_eq!(stored(&store), Some(3));
}

/// At the log end the broker's long poll is the wait: the loop asks again at once, so a record
/// written just after an empty poll is not held back by a pause of our own.
#[tokio::test]
async fn at_the_log_end_the_loop_waits_only_for_the_brokers_long_poll() {
    let (_dir, store) = new_store();
    let ctx = context(&store, Arc::new(NoopHandler));
    let log = Arc::new(Log {
        end_poll: Duration::from_millis(5),
        ..Log::new(0, 0)
    });
    let started = std::time::Instant::now();
    run_until(&ctx, source(&log), committed(None), |_| {
        started.elapsed() >= Duration::from_secs(1)
    })
    .await;
    let n = log.fetches().len();
    // About 1 s / 5 ms; a pause of 50 ms after each poll would allow 20 at most.
    assert!(n >= 40, "{n} fetches in 1 s");
}

/// Another producer's transaction open from offset 3: the loop reads up to it, then waits on
/// the broker's long poll there, not on pauses of its own; the lag counts the open records.
#[tokio::test]
async fn at_an_open_transaction_the_loop_waits_only_for_the_brokers_long_poll() {
    let (_dir, store) = new_store();
    let ctx = context(&store, Arc::new(NoopHandler));
    let log = Arc::new(Log {
        open_from: Some(3),
        end_poll: Duration::from_millis(5),
        ..Log::new(0, 9)
    });
    let started = std::time::Instant::now();
    run_until(&ctx, source(&log), committed(None), |_| {
        started.elapsed() >= Duration::from_secs(1)
    })
    .await;
    assert_eq!(stored(&store), Some(3));
    assert_eq!(ctx.metrics.lag().get(&0), Some(&6));
    // About 1 s / 5 ms; the empty-answer pauses (up to 50 ms) would allow 20 at most.
    let n = log.asked(3);
    assert!(n >= 40, "{n} fetches at the last stable offset in 1 s");
}
