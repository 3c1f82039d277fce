//! Asking a broker again after a failure that may pass, with a pause that starts at
//! [`FIRST_PAUSE`] and doubles up to a caller's longest, for as long as the caller's patience
//! lasts: the group's committed offsets at an assignment, a revoked partition's commit, the
//! producer id at start.
use std::time::Duration;

use tokio::time::Instant;

/// The first pause between two tries.
pub const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// How a try failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Failed<E> {
    /// Trying again may mend it.
    Again(E),
    /// It will not pass: give up at once.
    Stop(E),
}

/// Runs `attempt` (given its number, from 1) until it succeeds, with a pause between two tries
/// that starts at [`FIRST_PAUSE`] and doubles up to `max_pause`; gives up with the last
/// failure when it says [`Failed::Stop`], or when the next try would begin more than
/// `patience` after the first.
pub async fn with_retries<T, E, F, Fut>(
    patience: Duration,
    max_pause: Duration,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failed<E>>>,
{
    let deadline = Instant::now() + patience;
    let mut pause = FIRST_PAUSE;
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt(tries).await {
            Ok(value) => return Ok(value),
            Err(Failed::Stop(error)) => return Err(error),
            Err(Failed::Again(error)) if Instant::now() + pause >= deadline => return Err(error),
            Err(Failed::Again(_)) => {}
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(max_pause);
    }
}

#[cfg(test)]
mod tests;
