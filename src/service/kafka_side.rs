//! The Kafka side of the service: the producer, the outbox relay and the consumer, started
//! once Kafka answers and stopped in order.
use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::{kafka_metrics::KafkaMetrics, pipeline_failure::PipelineFailure};
use crate::{
    config::Config,
    consumer::{Consumer, ConsumerParts},
    http, kafka,
    logging::task_ended,
    outbox,
    producer::{BrokerTransport, Producer},
    store::Store,
    users::{EventRecordHandler, UserEventHandler},
};

/// Pause between attempts to reach Kafka at start-up.
const KAFKA_RETRY: Duration = Duration::from_secs(2);
/// Longest wait for the relay's and the producer's shutdown steps.
const SHUTDOWN_STEP: Duration = Duration::from_secs(10);
/// Longest wait for the consumer's: a step of the group already under way when the stop came
/// (the committed offsets of new partitions, up to 7.5 s), its handover commit (5 s, and a try
/// begun before then up to 5 s more), the member's stop and its LeaveGroup (5 s) follow one
/// another, and LeaveGroup, last, must not be the step cut.
const CONSUMER_STOP: Duration = Duration::from_secs(25);

/// The Kafka side: producer, outbox relay and consumer, started once Kafka answers.
pub(super) struct KafkaSide {
    /// The service's configuration.
    pub config: Config,
    /// The HTTP front's state: told when Kafka is ready.
    pub state: Arc<http::AppState>,
    /// The store the relay reads and the consumer writes.
    pub store: Arc<dyn Store>,
    /// `ce_producerid` of what the consumer writes to the outbox.
    pub producer_id: u64,
    /// Wakes the outbox relay after commits (HTTP mutations, consumer outputs).
    pub wake: Arc<Notify>,
    /// What the producer and the consumer count (shown on `/metrics`).
    pub metrics: KafkaMetrics,
    /// Where the pipeline's failure for good is said, for the service to stop.
    pub failure: Arc<PipelineFailure>,
}

impl KafkaSide {
    /// Reaches Kafka (retrying until it answers), runs the relay and the consumer until
    /// `cancel`, then stops them in order: consumer (commits its batch), relay (finishes its
    /// round), producer (delivers what is buffered).
    pub async fn run(self, cancel: CancellationToken) {
        let Some(client) = self.connect(&cancel).await else {
            return;
        };
        let cfg = &self.config;
        let Some(producer) = self.producer(&client, &cancel).await else {
            return;
        };
        let wake = Arc::clone(&self.wake);
        self.store.wake_on_outbox_commits(Arc::clone(&wake));
        let relay_cancel = CancellationToken::new();
        // Cancels the relay (and the appends' sharing) also when this code panics: the relay
        // runs on a task of its own, which would go on after it.
        let _relay_stops = relay_cancel.clone().drop_guard();
        super::share_appends::start(&self.store, &client, relay_cancel.clone());
        let mut relay = tokio::spawn(outbox::relay::run(
            Arc::clone(&self.store),
            producer.clone(),
            Arc::clone(&wake),
            relay_cancel.clone(),
        ));
        let mut consumer = self.metrics.consumer.as_ref().map(|metrics| {
            let parts = ConsumerParts {
                topic: cfg.topics.events.clone(),
                config: cfg.consumer.clone(),
                store: Arc::clone(&self.store),
                handler: Arc::new(EventRecordHandler(UserEventHandler {
                    notifications: cfg.topics.notifications.clone(),
                    analytics: cfg.topics.analytics.clone(),
                })),
                metrics: Arc::clone(metrics),
                producer_id: self.producer_id,
                outbox_wake: Arc::clone(&wake),
            };
            Consumer::start_within(Arc::clone(&client), parts, &cancel)
        });
        // Ready once the producer and consumer run, so that `/ready`, `/metrics` and
        // `Running::consumer_metrics` never show a half-started pipeline.
        self.state.set_kafka_ready(true);
        // The relay runs until it is cancelled, the consumer's tasks until it is stopped: one
        // that ends first is a failure for good, which stops the service.
        let mut relay_ended = false;
        let failed = tokio::select! {
            () = cancel.cancelled() => None,
            ended = &mut relay => {
                relay_ended = true;
                Some(task_ended("the outbox relay", ended))
            }
            why = consumer_panicked(consumer.as_mut()) => Some(why),
        };
        if let Some(why) = failed {
            error!(error = %why, "the Kafka pipeline failed; stopping, so that a supervisor (Kubernetes, Docker's restart policy, systemd) starts the service again");
            self.state.set_kafka_ready(false);
            self.failure.fail(why);
            cancel.cancelled().await;
        }
        if let Some(c) = consumer
            && !c.stop(CONSUMER_STOP).await
        {
            warn!("consumer did not stop within {CONSUMER_STOP:?}");
        }
        relay_cancel.cancel();
        if !relay_ended {
            match tokio::time::timeout(SHUTDOWN_STEP, relay).await {
                Err(_) => warn!("outbox relay did not stop within {SHUTDOWN_STEP:?}"),
                Ok(Err(e)) => {
                    error!(error = %task_ended("the outbox relay", Err(e)), "outbox relay")
                }
                Ok(Ok(())) => {}
            }
        }
        if let Err(error) = producer.close(SHUTDOWN_STEP).await {
            warn!(%error, "producer: not everything was delivered before shutdown; the outbox keeps it");
        }
    }

    /// The producer on `client`; `None` when the service stops first (it asks for a producer id
    /// for up to 30 s while the failure may pass).
    async fn producer(
        &self,
        client: &Arc<kafka::Client>,
        cancel: &CancellationToken,
    ) -> Option<Producer> {
        let transport = tokio::select! {
            t = BrokerTransport::connect(Arc::clone(client), &self.config.producer) => t,
            () = cancel.cancelled() => return None,
        };
        Some(Producer::with_metrics(
            Arc::new(transport),
            self.config.producer.clone(),
            Arc::clone(&self.metrics.producer),
        ))
    }

    /// The process's Kafka client, once the brokers answer and the topics exist; retried
    /// until it works or shutdown begins.
    async fn connect(&self, cancel: &CancellationToken) -> Option<Arc<kafka::Client>> {
        let cfg = &self.config;
        cfg.kafka.warn_if_password_in_clear();
        let client = self.client()?;
        // Each bootstrap broker in turn gets the connect timeout (one that does not answer
        // must not use up the next one's), and the requests one more.
        let brokers = u32::try_from(cfg.kafka.brokers.len()).unwrap_or(u32::MAX);
        let budget = Duration::from_secs(cfg.kafka.connect_timeout_secs.max(1))
            .saturating_mul(brokers.saturating_add(1));
        loop {
            let attempt = tokio::time::timeout(budget, self.ensure_topics(&client));
            let result = tokio::select! {
                result = attempt => result,
                () = cancel.cancelled() => return None,
            };
            match result {
                Ok(Ok(created)) => {
                    info!(brokers = %cfg.kafka.brokers.join(","), ?created, "Kafka ready");
                    return Some(client);
                }
                Ok(Err(error)) => warn!(
                    error = %crate::logging::error_chain(&error),
                    retry_in = ?KAFKA_RETRY,
                    "Kafka not ready"
                ),
                Err(_) => warn!(
                    timeout_secs = budget.as_secs(),
                    retry_in = ?KAFKA_RETRY,
                    "Kafka not ready: no answer in time"
                ),
            }
            tokio::select! {
                () = tokio::time::sleep(KAFKA_RETRY) => {}
                () = cancel.cancelled() => return None,
            }
        }
    }

    /// The process's Kafka client (it connects on first use), with a request timeout that
    /// covers a JoinGroup's rebalance; `None` when the TLS settings cannot be read (checked in
    /// `start`: the files changed since), which fails the pipeline.
    fn client(&self) -> Option<Arc<kafka::Client>> {
        let cfg = &self.config;
        let mut settings = match cfg.kafka.connect_settings() {
            Ok(s) => s,
            Err(error) => {
                let why = format!("the Kafka TLS settings cannot be read: {error}");
                error!(error = %why, "the Kafka pipeline cannot start; stopping");
                self.failure.fail(why);
                return None;
            }
        };
        // JoinGroup is answered when the rebalance completes: up to its timeout.
        let rebalance = Duration::from_millis(u64::from(cfg.consumer.rebalance_timeout_ms));
        settings.request_timeout = settings
            .request_timeout
            .max(rebalance + Duration::from_secs(5));
        Some(Arc::new(kafka::Client::new(
            cfg.kafka.brokers.clone(),
            settings,
        )))
    }

    /// Creates the topics the service uses (the dead-letter topic too) that do not exist yet;
    /// the ones it created.
    async fn ensure_topics(&self, client: &kafka::Client) -> Result<Vec<&str>, kafka::ClientError> {
        let cfg = &self.config;
        let (partitions, replication) = (cfg.topics.partitions, cfg.topics.replication_factor);
        let topics = cfg
            .topics
            .all()
            .into_iter()
            .chain([cfg.consumer.dlq_topic.as_str()]);
        let mut created = Vec::new();
        for topic in topics {
            if client.ensure_topic(topic, partitions, replication).await? {
                created.push(topic);
            }
        }
        Ok(created)
    }
}

/// Resolves when one of `consumer`'s tasks panicked ([`Consumer::panicked`]); never without a
/// consumer.
async fn consumer_panicked(consumer: Option<&mut Consumer>) -> String {
    match consumer {
        Some(c) => c.panicked().await,
        None => std::future::pending().await,
    }
}
