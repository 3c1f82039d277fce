use std::{sync::mpsc, thread};

use super::*;

const LONG: Duration = Duration::from_secs(30);

/// Waits until `n` threads wait on `handoff`.
fn until_idle(handoff: &Handoff<u32>, n: usize) {
    let deadline = Instant::now() + LONG;
    while handoff.idle() != n {
        assert!(Instant::now() < deadline, "{n} threads never waited");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A thread that takes one job (through `next`, or `next_cold` after `first` ran out) and
/// reports it with its name.
fn taker(
    handoff: &Arc<Handoff<u32>>,
    name: &'static str,
    first: Duration,
    got: &mpsc::Sender<(&'static str, u32)>,
) -> thread::JoinHandle<()> {
    let (handoff, got) = (Arc::clone(handoff), got.clone());
    thread::spawn(move || {
        let slot = Slot::new();
        let next = match handoff.next(&slot, first) {
            Next::Idle => handoff.next_cold(&slot),
            next => next,
        };
        if let Next::Job(job) = next {
            got.send((name, job)).unwrap();
        }
    })
}

/// Sends two jobs, one at a time: `b` takes the first and `a` the second; joins `threads`.
fn b_then_a(
    handoff: &Handoff<u32>,
    taken: &mpsc::Receiver<(&'static str, u32)>,
    threads: [thread::JoinHandle<()>; 2],
) {
    handoff.send(1).unwrap();
    assert_eq!(taken.recv().unwrap(), ("b", 1));
    handoff.send(2).unwrap();
    assert_eq!(taken.recv().unwrap(), ("a", 2));
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn the_thread_that_went_idle_last_takes_the_next_job() {
    let handoff = Arc::new(Handoff::new());
    let (got, taken) = mpsc::channel();
    let a = taker(&handoff, "a", LONG, &got);
    until_idle(&handoff, 1);
    let b = taker(&handoff, "b", LONG, &got);
    until_idle(&handoff, 2);
    b_then_a(&handoff, &taken, [a, b]);
}

#[test]
fn a_thread_that_waited_out_its_time_takes_a_job_after_every_other() {
    let handoff = Arc::new(Handoff::new());
    let (got, taken) = mpsc::channel();
    let b = taker(&handoff, "b", LONG, &got);
    until_idle(&handoff, 1);
    // Idle after b, but it runs out of time and waits again, behind b.
    let a = taker(&handoff, "a", Duration::from_millis(20), &got);
    until_idle(&handoff, 2);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(handoff.idle(), 2, "a waits again");
    b_then_a(&handoff, &taken, [a, b]);
}

#[test]
fn jobs_with_no_idle_thread_wait_in_order_and_closing_ends_the_waits() {
    let handoff = Arc::new(Handoff::new());
    for job in [1, 2, 3] {
        handoff.send(job).unwrap();
    }
    let slot = Slot::new();
    for job in [1, 2, 3] {
        assert!(matches!(handoff.next(&slot, LONG), Next::Job(j) if j == job));
    }
    let (got, taken) = mpsc::channel();
    let cold = taker(&handoff, "cold", Duration::ZERO, &got);
    until_idle(&handoff, 1);
    handoff.close();
    cold.join().unwrap();
    assert!(taken.try_recv().is_err(), "no job after the close");
    assert_eq!(handoff.send(4), Err(4));
    assert!(matches!(handoff.next(&slot, LONG), Next::Closed));
}
