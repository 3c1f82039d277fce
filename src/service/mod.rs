//! Wires the service together: data directory, HTTP front, Kafka set-up; and stops it cleanly.
//!
//! [`start`] binds the listener and returns at once with a [`Running`] handle (so tests can use
//! port 0 and ask for the address); Kafka is reached in the background and retried until it
//! answers, because a broker that is down must never keep the HTTP front from serving.
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::Notify};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{error, info, warn};

use crate::{
    config::{Config, StoreBackend},
    consumer::{Consumer, ConsumerMetrics, ConsumerParts},
    http, kafka,
    metrics::RenderMetrics,
    outbox,
    pgstore::PgStore,
    producer::{BrokerTransport, Producer, ProducerMetrics},
    store::{RedbStore, Store, StoreError},
    users::{AuthLimits, EventRecordHandler, UserError, UserEventHandler, Users},
};

/// How long in-flight HTTP requests may take to finish after shutdown begins.
const HTTP_DRAIN: Duration = Duration::from_secs(10);
/// Pause between attempts to reach Kafka at start-up.
const KAFKA_RETRY: Duration = Duration::from_secs(2);
/// Longest wait for each shutdown step (consumer, relay, producer).
const SHUTDOWN_STEP: Duration = Duration::from_secs(10);

/// The user service over `store`, with the first admin from config created if missing.
async fn users(
    config: &Config,
    store: Arc<dyn Store>,
    producer_id: u64,
    wake: Arc<Notify>,
) -> Result<Arc<Users>, ServiceError> {
    let auth = config.auth.clone();
    let events = config.topics.events.clone();
    let encoding = config.events.encoding;
    tokio::task::spawn_blocking(move || {
        let ttl = Duration::from_secs(auth.session_ttl_secs);
        let limits = AuthLimits {
            per_source: auth.login_failures_per_source,
            per_account: auth.login_failures_per_account,
            per_ip: auth.login_failures_per_ip,
            window: Duration::from_secs(auth.login_window_secs),
            max_keys: auth.throttle_max_keys,
            max_sessions: auth.max_sessions_per_user,
        };
        let users = Users::new(store, producer_id, &events, ttl)?
            .with_wake(wake)
            .with_limits(&limits)
            .with_encoding(encoding);
        if let (Some(name), Some(email), Some(password)) = (
            &auth.admin_username,
            &auth.admin_email,
            &auth.admin_password,
        ) && users.ensure_admin(name, email, password)?
        {
            info!(admin = %name, "created the admin account");
        }
        Ok(Arc::new(users))
    })
    .await
    .map_err(|e| ServiceError::Users(UserError::Task(e)))?
    .map_err(ServiceError::Users)
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The data directory could not be created.
    #[error("store.data_dir {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The producer id file could not be read or created.
    #[error("producer identity in {}: {source}", path.display())]
    Identity {
        /// The data directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The user service could not start (store or admin account).
    #[error("users: {0}")]
    Users(UserError),
    /// The Kafka TLS settings cannot be used (checked before anything starts).
    #[error("{0}")]
    KafkaSecurity(#[from] kafka::security::SecurityError),
    /// The HTTP listener could not be bound.
    #[error("http.listen {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A started service.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    state: Arc<http::AppState>,
    /// What the consumer counts, when it is enabled.
    consumer_metrics: Option<Arc<ConsumerMetrics>>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

/// Starts the service described by `config`.
pub async fn start(config: Config) -> Result<Running, ServiceError> {
    // Unreadable certificates are a configuration error, not a Kafka outage to retry.
    config.kafka.tls()?;
    let dir = &config.store.data_dir;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|source| ServiceError::DataDir {
            path: dir.clone(),
            source,
        })?;
    let store: Arc<dyn Store> = match config.store.backend {
        StoreBackend::Redb => Arc::new(RedbStore::open(dir)?),
        StoreBackend::Postgres => {
            Arc::new(PgStore::connect(&config.store.url, config.store.pool_size).await?)
        }
    };
    let producer_id =
        outbox::identity::load_or_create(dir).map_err(|source| ServiceError::Identity {
            path: dir.clone(),
            source,
        })?;
    let listener = TcpListener::bind(config.http.listen)
        .await
        .map_err(|source| ServiceError::Bind {
            addr: config.http.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServiceError::Bind {
        addr: config.http.listen,
        source,
    })?;
    let wake = Arc::new(Notify::new());
    let users = users(&config, Arc::clone(&store), producer_id, Arc::clone(&wake)).await?;
    let prune_every = Duration::from_secs(config.auth.session_prune_secs.max(1));
    // The Kafka side's metrics exist from the start, so `/metrics` holds them before Kafka
    // answers; the producer and consumer count into them once they run.
    let producer_metrics = Arc::new(ProducerMetrics::default());
    let consumer_metrics = config
        .consumer
        .enabled
        .then(Arc::<ConsumerMetrics>::default);
    let mut kafka_metrics: Vec<Arc<dyn RenderMetrics>> = vec![producer_metrics.clone()];
    if let Some(m) = &consumer_metrics {
        kafka_metrics.push(m.clone());
    }
    let state = Arc::new(http::AppState::new(
        Arc::clone(&store),
        users,
        config.http.ready_max_backlog,
        kafka_metrics,
    ));
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    tasks.spawn(http::serve(
        listener,
        Arc::clone(&state),
        cancel.clone(),
        HTTP_DRAIN,
        http::ConnectionLimits::from(&config.http),
    ));
    let pipeline = Pipeline {
        config,
        state: Arc::clone(&state),
        store,
        producer_id,
        wake,
        producer_metrics,
        consumer_metrics: consumer_metrics.clone(),
    };
    tasks.spawn(pipeline.run(cancel.clone()));
    tasks.spawn(Arc::clone(&state.users).prune_sessions_every(prune_every, cancel.clone()));
    info!(%addr, "usercenter listening on http://{addr}");
    Ok(Running {
        addr,
        state,
        consumer_metrics,
        cancel,
        tasks,
    })
}

/// The Kafka side: producer, outbox relay and consumer, started once Kafka answers.
struct Pipeline {
    config: Config,
    state: Arc<http::AppState>,
    store: Arc<dyn Store>,
    /// `ce_producerid` of what the consumer writes to the outbox.
    producer_id: u64,
    /// Wakes the outbox relay after commits (HTTP mutations, consumer outputs).
    wake: Arc<Notify>,
    /// What the producer counts (shown on `/metrics`).
    producer_metrics: Arc<ProducerMetrics>,
    /// What the consumer counts, when it is enabled (shown on `/metrics`).
    consumer_metrics: Option<Arc<ConsumerMetrics>>,
}

impl Pipeline {
    /// Reaches Kafka (retrying until it answers), runs the relay and the consumer until
    /// `cancel`, then stops them in order: consumer (commits its batch), relay (finishes its
    /// round), producer (delivers what is buffered).
    async fn run(self, cancel: CancellationToken) {
        let Some(client) = self.connect(&cancel).await else {
            return;
        };
        let cfg = &self.config;
        let transport = BrokerTransport::connect(Arc::clone(&client), &cfg.producer).await;
        let producer = Producer::with_metrics(
            Arc::new(transport),
            cfg.producer.clone(),
            Arc::clone(&self.producer_metrics),
        );
        let wake = Arc::clone(&self.wake);
        let relay_cancel = CancellationToken::new();
        let relay = tokio::spawn(outbox::relay::run(
            Arc::clone(&self.store),
            producer.clone(),
            Arc::clone(&wake),
            relay_cancel.clone(),
        ));
        let consumer = self.consumer_metrics.as_ref().map(|metrics| {
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
            Consumer::start(Arc::clone(&client), parts)
        });
        // Ready once the producer and consumer run, so that `/ready`, `/metrics` and
        // `Running::consumer_metrics` never show a half-started pipeline.
        self.state.set_kafka_ready(true);
        cancel.cancelled().await;
        if let Some(c) = consumer
            && !c.stop(SHUTDOWN_STEP).await
        {
            warn!("consumer did not stop within {SHUTDOWN_STEP:?}");
        }
        relay_cancel.cancel();
        if tokio::time::timeout(SHUTDOWN_STEP, relay).await.is_err() {
            warn!("outbox relay did not stop within {SHUTDOWN_STEP:?}");
        }
        if let Err(error) = producer.close(SHUTDOWN_STEP).await {
            warn!(%error, "producer: not everything was delivered before shutdown; the outbox keeps it");
        }
    }

    /// The process's Kafka client, once the brokers answer and the topics exist; retried
    /// until it works or shutdown begins.
    async fn connect(&self, cancel: &CancellationToken) -> Option<Arc<kafka::Client>> {
        let cfg = &self.config;
        let mut settings = match cfg.kafka.connect_settings() {
            Ok(s) => s,
            // Checked in `start`: the files changed since.
            Err(error) => {
                error!(%error, "Kafka TLS settings");
                return None;
            }
        };
        // JoinGroup is answered when the rebalance completes: up to its timeout.
        let rebalance = Duration::from_millis(u64::from(cfg.consumer.rebalance_timeout_ms));
        settings.request_timeout = settings
            .request_timeout
            .max(rebalance + Duration::from_secs(5));
        let client = Arc::new(kafka::Client::new(cfg.kafka.brokers.clone(), settings));
        let (partitions, replication) = (cfg.topics.partitions, cfg.topics.replication_factor);
        let topics: Vec<&str> = cfg
            .topics
            .all()
            .into_iter()
            .chain([cfg.consumer.dlq_topic.as_str()])
            .collect();
        loop {
            let attempt = async {
                let mut created = Vec::new();
                for topic in &topics {
                    if client.ensure_topic(topic, partitions, replication).await? {
                        created.push(*topic);
                    }
                }
                Ok::<_, kafka::ClientError>(created)
            };
            let attempt = tokio::time::timeout(
                Duration::from_secs(cfg.kafka.connect_timeout_secs.max(1)),
                attempt,
            );
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
                    timeout_secs = cfg.kafka.connect_timeout_secs,
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
}

impl Running {
    /// The address the HTTP front listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether Kafka was reached and the topics exist.
    pub fn kafka_ready(&self) -> bool {
        self.state.kafka_ready()
    }

    /// The consumer's metrics, once it runs (Kafka was reached and the consumer is enabled).
    pub fn consumer_metrics(&self) -> Option<Arc<ConsumerMetrics>> {
        self.state
            .kafka_ready()
            .then(|| self.consumer_metrics.clone())
            .flatten()
    }

    /// Outbox rows waiting to be published.
    pub fn outbox_backlog(&self) -> Option<u64> {
        self.state.outbox_backlog()
    }

    /// Stops accepting, finishes in-flight work and returns when every task has ended.
    pub async fn stop(self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        info!("usercenter stopped");
    }
}

/// Runs the service until `shutdown` completes, then stops it cleanly.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServiceError> {
    let running = start(config).await?;
    shutdown.await;
    info!("shutdown requested");
    running.stop().await;
    Ok(())
}
