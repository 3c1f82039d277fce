use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

#[tokio::test(start_paused = true)]
async fn a_try_that_fails_is_made_again_with_a_growing_pause_until_it_works() {
    let tries = AtomicU32::new(0);
    let started = Instant::now();
    let got: Result<u32, ()> = with_retries(Duration::from_secs(15), Duration::from_secs(2), |n| {
        tries.fetch_add(1, Ordering::SeqCst);
        async move { if n < 4 { Err(Failed::Again(())) } else { Ok(n) } }
    })
    .await;
    assert_eq!(got, Ok(4));
    // Pauses of 100, 200 and 400 ms between the four tries.
    assert_eq!(started.elapsed(), Duration::from_millis(700));
}

#[tokio::test(start_paused = true)]
async fn tries_stop_once_the_next_would_begin_past_the_patience() {
    let tries = AtomicU32::new(0);
    let started = Instant::now();
    let got: Result<(), u32> = with_retries(Duration::from_secs(5), Duration::from_secs(2), |n| {
        tries.fetch_add(1, Ordering::SeqCst);
        async move { Err(Failed::Again(n)) }
    })
    .await;
    assert_eq!(got, Err(6), "the last failure");
    // 100 + 200 + 400 + 800 + 1600 ms make 3.1 s; the next pause (2 s, the longest) would
    // begin the seventh try past 5 s.
    assert_eq!(tries.load(Ordering::SeqCst), 6);
    assert_eq!(started.elapsed(), Duration::from_millis(3_100));
}

#[tokio::test(start_paused = true)]
async fn a_failure_that_will_not_pass_ends_the_tries_at_once() {
    let tries = AtomicU32::new(0);
    let started = Instant::now();
    let got: Result<(), &str> =
        with_retries(Duration::from_secs(30), Duration::from_secs(5), |n| {
            tries.fetch_add(1, Ordering::SeqCst);
            async move {
                Err(if n < 2 {
                    Failed::Again("again")
                } else {
                    Failed::Stop("stop")
                })
            }
        })
        .await;
    assert_eq!(got, Err("stop"));
    assert_eq!(tries.load(Ordering::SeqCst), 2);
    assert_eq!(started.elapsed(), Duration::from_millis(100));
}
