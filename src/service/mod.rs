//! Wires the service together: data directory, HTTP front, Kafka set-up; and stops it cleanly.
//!
//! [`start`] binds the listener and returns at once with a [`Running`] handle (so tests can use
//! port 0 and ask for the address); Kafka is reached in the background and retried until it
//! answers, because a broker that is down must never keep the HTTP front from serving.
mod error;
mod kafka_metrics;
mod kafka_side;
mod open_files;
mod pipeline_failure;
mod share_appends;
mod shutdown_signal;
mod user_service;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::Notify};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{error, info, warn};

use crate::{
    config::{Config, StoreBackend},
    consumer::ConsumerMetrics,
    http, outbox,
    pgstore::PgStore,
    store::{RedbStore, Store},
};
pub use error::ServiceError;
use kafka_metrics::KafkaMetrics;
use kafka_side::KafkaSide;
use pipeline_failure::PipelineFailure;
pub use shutdown_signal::shutdown_signal;
use user_service::users;

/// How long in-flight HTTP requests may take to finish after shutdown begins.
const HTTP_DRAIN: Duration = Duration::from_secs(10);
/// How long after the signal that began the stop a second one stops at once
/// ([`ServiceError::Interrupted`]).
const SECOND_SIGNAL_AFTER: Duration = Duration::from_secs(2);
/// Connections the operational listener (`http.ops_listen`) serves at once: probes and a
/// metrics scraper hold a few.
const OPS_CONNECTIONS: usize = 64;
/// Of [`OPS_CONNECTIONS`], those one address may hold: one client cannot take every slot and
/// fail the kubelet's probes.
const OPS_CONNECTIONS_PER_CLIENT: usize = 16;
/// How long a client of the operational listener may take to send a request's headers (a
/// probe sends them at once), and keep a connection idle.
const OPS_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// A started service.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    /// Where the operational endpoints are served, when apart from the API.
    ops_addr: Option<SocketAddr>,
    state: Arc<http::AppState>,
    /// What the consumer counts, when it is enabled.
    consumer_metrics: Option<Arc<ConsumerMetrics>>,
    failure: Arc<PipelineFailure>,
    /// The HTTP front's listeners and connections, stopped first.
    http: Stage,
    /// The Kafka side and the session pruning, stopped once the HTTP front drained.
    cancel: CancellationToken,
    tasks: TaskTracker,
}

/// Tasks stopped together: their token and tracker.
#[derive(Debug, Default)]
struct Stage {
    cancel: CancellationToken,
    tasks: TaskTracker,
}

/// Starts the service described by `config`.
pub async fn start(config: Config) -> Result<Running, ServiceError> {
    // Unreadable certificates are a configuration error, not a Kafka outage to retry.
    config.kafka.tls()?;
    let dir = &config.store.data_dir;
    let store = open_store(&config).await?;
    let producer_id =
        outbox::identity::load_or_create(dir).map_err(|source| ServiceError::Identity {
            path: dir.clone(),
            source,
        })?;
    let (listener, addr) = bind("http.listen", config.http.listen).await?;
    let ops = match config.http.ops_listen {
        Some(listen) => Some(bind("http.ops_listen", listen).await?),
        None => None,
    };
    open_files::warn_if_too_few(&config, ops.as_ref().map_or(0, |_| OPS_CONNECTIONS));
    let wake = Arc::new(Notify::new());
    let users = users(&config, Arc::clone(&store), producer_id, Arc::clone(&wake)).await?;
    let prune_every = Duration::from_secs(config.auth.session_prune_secs.max(1));
    let metrics = KafkaMetrics::new(config.consumer.enabled);
    let state = Arc::new(
        http::AppState::new(
            Arc::clone(&store),
            users,
            config.http.ready_max_backlog,
            metrics.rendered(),
        )
        .with_trusted_proxies(http::TrustedProxies::new(
            config.http.trusted_proxy_ranges(),
        )),
    );
    // The HTTP front stops first and drains; the Kafka side after it, so that what the drained
    // requests committed is published before the relay ends.
    let http = Stage::default();
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let limits = http::ConnectionLimits::from(&config.http);
    let serves = match ops {
        Some(_) => http::Serves::Api,
        None => http::Serves::Everything,
    };
    http.tasks.spawn(http::serve(
        listener,
        Arc::clone(&state),
        serves,
        http.cancel.clone(),
        HTTP_DRAIN,
        limits,
    ));
    let ops_addr = ops.map(|ops| serve_ops(ops, &state, &http.tasks, &http.cancel, limits));
    let consumer_metrics = metrics.consumer.clone();
    let failure = Arc::new(PipelineFailure::default());
    let kafka_side = KafkaSide {
        config,
        state: Arc::clone(&state),
        store,
        producer_id,
        wake,
        metrics,
        failure: Arc::clone(&failure),
    };
    tasks.spawn(Arc::clone(&failure).watch(kafka_side.run(cancel.clone())));
    tasks.spawn(Arc::clone(&state.users).prune_sessions_every(prune_every, cancel.clone()));
    info!(%addr, "usercenter listening on http://{addr}");
    if ops_addr.is_none() && !addr.ip().is_loopback() {
        warn!(%addr, "/metrics and /ready are served on the API's address, to anyone who reaches it (what /metrics counts tells whether a login named an account); set http.ops_listen to serve them on an address of their own");
    }
    Ok(Running {
        addr,
        ops_addr,
        state,
        consumer_metrics,
        failure,
        http,
        cancel,
        tasks,
    })
}

/// Serves `/health`, `/ready` and `/metrics` on the operational listener (`http.ops_listen`),
/// with slots of its own; its address.
fn serve_ops(
    (listener, addr): (TcpListener, SocketAddr),
    state: &Arc<http::AppState>,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
    limits: http::ConnectionLimits,
) -> SocketAddr {
    tasks.spawn(http::serve(
        listener,
        Arc::clone(state),
        http::Serves::Operations,
        cancel.clone(),
        HTTP_DRAIN,
        http::ConnectionLimits {
            max_connections: OPS_CONNECTIONS,
            max_per_client: OPS_CONNECTIONS_PER_CLIENT,
            header_timeout: OPS_HEADER_TIMEOUT,
            ..limits
        },
    ));
    info!(%addr, "operational endpoints (/health, /ready, /metrics) on http://{addr}");
    addr
}

/// The store `config` names, its data directory created first.
async fn open_store(config: &Config) -> Result<Arc<dyn Store>, ServiceError> {
    let dir = &config.store.data_dir;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|source| ServiceError::DataDir {
            path: dir.clone(),
            source,
        })?;
    Ok(match config.store.backend {
        // On a thread of its own: a repair after an unclean stop may take a while, and a
        // signal meanwhile stops the start ([`run`]).
        StoreBackend::Redb => {
            let dir = dir.clone();
            match tokio::task::spawn_blocking(move || RedbStore::open(&dir)).await {
                Ok(opened) => Arc::new(opened?),
                // Not cancelled while awaited: its panic goes on.
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        StoreBackend::Postgres => Arc::new(connect_postgres(&config.store).await?),
    })
}

/// The longest pause between attempts to reach the database at start.
const DATABASE_RETRY_MAX: Duration = Duration::from_secs(10);

/// Connects to PostgreSQL and applies the migrations, waiting while the database cannot be
/// reached (a failover, a database starting beside the service), as Kafka is waited for: a
/// process that exits instead is restarted with a growing back-off, long after the database
/// is back. Any other failure (a password, TLS, a migration) ends the start; a signal stops
/// the wait ([`run`]).
async fn connect_postgres(s: &crate::config::StoreConfig) -> Result<PgStore, ServiceError> {
    let mut pause = Duration::from_millis(500);
    loop {
        match PgStore::connect_trusting(&s.url, s.pool_size, s.tls_ca_file.as_deref()).await {
            Err(error) if error.database_unreachable() => {
                warn!(%error, retry_in = ?pause, "the database cannot be reached yet; waiting for it");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(DATABASE_RETRY_MAX);
            }
            connected => return Ok(connected?),
        }
    }
}

/// The HTTP listener on `listen` (the setting `field`), and the address it got (port 0 picks
/// one).
async fn bind(
    field: &'static str,
    listen: SocketAddr,
) -> Result<(TcpListener, SocketAddr), ServiceError> {
    let bind_error = |source| ServiceError::Bind {
        field,
        addr: listen,
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    Ok((listener, addr))
}

impl Running {
    /// The address the HTTP front listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address `/health`, `/ready` and `/metrics` are served on: `http.ops_listen`'s
    /// when set, else the API's.
    pub fn ops_addr(&self) -> SocketAddr {
        self.ops_addr.unwrap_or(self.addr)
    }

    /// Whether Kafka was reached, the topics exist and the producer has its id (or gave up
    /// asking for one); false again after the Kafka pipeline failed.
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

    /// Resolves once the store failed for good ([`Store::failed`], checked every second).
    pub async fn store_failed(&self) -> String {
        loop {
            if let Some(why) = self.state.store.failed() {
                return why;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    /// Resolves once the Kafka pipeline failed for good ([`ServiceError::PipelineFailed`]):
    /// why.
    pub async fn pipeline_failed(&self) -> String {
        self.failure.failed().await
    }

    /// Stops accepting and drains the HTTP front (at most [`HTTP_DRAIN`]), then stops the
    /// Kafka side (the consumer's batch in hand, the relay's last round, the producer's
    /// delivery); returns when every task has ended.
    pub async fn stop(self) {
        self.http.cancel.cancel();
        self.http.tasks.close();
        // The front gives up on its connections after its drain; a second more for that.
        let drained = HTTP_DRAIN + Duration::from_secs(1);
        if tokio::time::timeout(drained, self.http.tasks.wait())
            .await
            .is_err()
        {
            warn!("the HTTP front did not stop within {drained:?}; stopping the Kafka side");
        }
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        info!("usercenter stopped");
    }
}

/// How [`run`] ended when asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The service ran and stopped cleanly.
    Cleanly,
    /// The signal came while the service started (opening or repairing its store, waiting for
    /// its database): nothing had been served. Work left on blocking threads (a store repair)
    /// need not be waited for; it runs again at the next start.
    WhileStarting,
}

/// Runs the service until `shutdown` completes, then stops it cleanly. A `shutdown` during the
/// start stops it there: the process may be PID 1 in a container, where a signal nothing
/// listens to is ignored, and a stop would wait for the start and then its kill.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<Stopped, ServiceError> {
    tokio::pin!(shutdown);
    let running = tokio::select! {
        started = start(config) => started?,
        () = &mut shutdown => {
            warn!("shutdown requested while starting: stopped before serving");
            return Ok(Stopped::WhileStarting);
        }
    };
    let failed = tokio::select! {
        () = &mut shutdown => {
            info!("shutdown requested");
            None
        }
        why = running.store_failed() => {
            error!(error = %why, "the store failed for good; stopping, so that a supervisor (Kubernetes, Docker's restart policy, systemd) starts the service again");
            Some(ServiceError::StoreFailed(why))
        }
        // Said at ERROR where it failed.
        why = running.pipeline_failed() => Some(ServiceError::PipelineFailed(why)),
    };
    // Kept for a second signal, which must also end the work `stop` has not reached yet (a
    // prune pass over a large table ends after its batch in hand).
    let tokens = [running.http.cancel.clone(), running.cancel.clone()];
    let stopping = running.stop();
    // A signal during the stop (an operator who will not wait, up to about a minute) stops at
    // once: what is not delivered stays in the outbox, as after a crash. After a signal, a
    // second one, not within 2 s of the first: a ctrl-c in a terminal whose script also sends
    // SIGTERM on it (deploy/run.sh) is one request to stop. After a failure, which no signal
    // began, the first; the failure stays the reason the service stopped.
    let after_failure = failed.is_some();
    let signal = async {
        if after_failure {
            shutdown.await;
        } else {
            tokio::time::sleep(SECOND_SIGNAL_AFTER).await;
            shutdown_signal().await;
        }
    };
    tokio::select! {
        () = stopping => {}
        () = signal => {
            warn!("a signal while stopping: stopping at once, without the rest of the shutdown");
            tokens.iter().for_each(CancellationToken::cancel);
            return Err(failed.unwrap_or(ServiceError::Interrupted));
        }
    }
    match failed {
        Some(error) => Err(error),
        None => Ok(Stopped::Cleanly),
    }
}
