//! The Kafka pipeline's failure for good: a task that must run until the service stops (the
//! outbox relay, the consumer's supervisor or pruning) ended early, the Kafka side could not
//! start, or it panicked ([`PipelineFailure::watch`]). The service then stops with status 1, as
//! it does when the store failed, so that its supervisor (Kubernetes, Docker's restart policy,
//! systemd) starts it again: left running, it would answer requests whose events nobody
//! publishes, with `/health` saying all is well.
use std::sync::OnceLock;

use tokio::sync::Notify;

/// Set once, by the Kafka side; awaited by the service's run.
#[derive(Debug, Default)]
pub(super) struct PipelineFailure {
    why: OnceLock<String>,
    said: Notify,
}

impl PipelineFailure {
    /// Records `why` (the first failure counts) and wakes whoever waits.
    pub fn fail(&self, why: String) {
        if self.why.set(why).is_ok() {
            self.said.notify_waiters();
        }
    }

    /// Runs `side` (the Kafka side) on a task of its own and waits for it: a panic there,
    /// outside the tasks it watches itself, is a failure for good too.
    pub async fn watch(
        self: std::sync::Arc<Self>,
        side: impl Future<Output = ()> + Send + 'static,
    ) {
        if let Err(e) = tokio::spawn(side).await {
            let why = crate::logging::task_ended("the Kafka side", Err(e));
            tracing::error!(error = %why, "the Kafka pipeline failed; stopping, so that a supervisor starts the service again");
            self.fail(why);
        }
    }

    /// Resolves with why once the pipeline failed.
    pub async fn failed(&self) -> String {
        loop {
            let said = self.said.notified();
            if let Some(why) = self.why.get() {
                return why.clone();
            }
            said.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failure_is_said_once_to_whoever_waits() {
        let failure = std::sync::Arc::new(PipelineFailure::default());
        let waiting = tokio::spawn({
            let failure = std::sync::Arc::clone(&failure);
            async move { failure.failed().await }
        });
        tokio::task::yield_now().await;
        failure.fail("the outbox relay ended".into());
        failure.fail("a second one".into());
        assert_eq!(waiting.await.unwrap(), "the outbox relay ended");
        assert_eq!(failure.failed().await, "the outbox relay ended");
    }

    #[tokio::test]
    async fn a_panic_of_the_kafka_side_is_a_failure() {
        let failure = std::sync::Arc::new(PipelineFailure::default());
        std::sync::Arc::clone(&failure)
            .watch(async { panic!("a deadline past the clock's end") })
            .await;
        assert_eq!(
            failure.failed().await,
            "the Kafka side panicked: a deadline past the clock's end"
        );
        // A side that ends (at the service's stop) is none.
        let quiet = std::sync::Arc::new(PipelineFailure::default());
        std::sync::Arc::clone(&quiet).watch(async {}).await;
        assert!(quiet.why.get().is_none());
    }

    #[tokio::test]
    async fn a_task_s_end_says_how() {
        use crate::logging::task_ended;
        let panicked = tokio::spawn(async { panic!("relay broke") }).await;
        assert_eq!(
            task_ended("the outbox relay", panicked),
            "the outbox relay panicked: relay broke"
        );
        let formatted = tokio::spawn(async { panic!("{} broke", "relay") }).await;
        assert!(task_ended("x", formatted).ends_with("relay broke"));
        assert_eq!(
            task_ended("the outbox relay", Ok(())),
            "the outbox relay ended"
        );
    }
}
