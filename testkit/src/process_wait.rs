//! Waiting for a process a test started (a broker, `usercenter serve`) to answer, failing at
//! once when it exits instead.
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use crate::http;

/// A process a test waits for: it can say that it has exited, and what to show when it does
/// not answer.
pub(crate) trait Watched {
    /// Panics, with what the process left behind, if it has exited.
    fn fail_if_exited(&mut self);
    /// What to say about it when it has not answered in time. It may be stopped first, to read
    /// a log it writes to a pipe; the caller panics next.
    fn give_up(&mut self) -> String;
}

/// Waits until `answers` says `process` answers (`what` is), asking every 100 ms; an ask that
/// takes longer than `ask_within` (a process cut off from its database) is asked again.
/// Panics after `within`, or as soon as `process` has exited. Its exit is checked before each
/// ask, because another test's process may answer on a port this one could not bind, and once
/// more 100 ms after the answer, when such an exit has shown.
pub(crate) async fn wait_until<F: Future<Output = bool>>(
    process: &mut impl Watched,
    what: &str,
    (within, ask_within): (Duration, Duration),
    mut answers: impl FnMut() -> F,
) {
    let deadline = Instant::now() + within;
    loop {
        process.fail_if_exited();
        if let Ok(true) = tokio::time::timeout(ask_within, answers()).await {
            tokio::time::sleep(Duration::from_millis(100)).await;
            process.fail_if_exited();
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "{what}: not after {} s:\n{}",
                within.as_secs(),
                process.give_up()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `GET path` on `addr` answers 200 (`/health`: listening; `/ready`: its store and
/// Kafka reached), within 60 s ([`wait_until`]).
pub(crate) async fn wait_until_answers(process: &mut impl Watched, addr: SocketAddr, path: &str) {
    let what = format!("{addr} answering {path} with 200");
    let times = (Duration::from_secs(60), Duration::from_secs(5));
    wait_until(process, &what, times, || async move {
        let answer = http::try_request(addr, "GET", path, &[], None).await;
        answer.is_some_and(|(status, ..)| status == 200)
    })
    .await;
}
