//! Wires the service together: data directory, HTTP front, Kafka set-up; and stops it cleanly.
//!
//! [`start`] binds the listener and returns at once with a [`Running`] handle (so tests can use
//! port 0 and ask for the address); Kafka is reached in the background and retried until it
//! answers, because a broker that is down must never keep the HTTP front from serving.
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{info, warn};

use crate::{config::Config, http, kafka};

/// How long in-flight HTTP requests may take to finish after shutdown begins.
const HTTP_DRAIN: Duration = Duration::from_secs(10);
/// Pause between attempts to reach Kafka at start-up.
const KAFKA_RETRY: Duration = Duration::from_secs(2);

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
    cancel: CancellationToken,
    tasks: TaskTracker,
}

/// Starts the service described by `config`.
pub async fn start(config: Config) -> Result<Running, ServiceError> {
    let dir = &config.store.data_dir;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|source| ServiceError::DataDir {
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
    let state = Arc::new(http::AppState::default());
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    tasks.spawn(http::serve(
        listener,
        Arc::clone(&state),
        cancel.clone(),
        HTTP_DRAIN,
    ));
    tasks.spawn(prepare_kafka(config, Arc::clone(&state), cancel.clone()));
    info!(%addr, "usercenter listening on http://{addr}");
    Ok(Running {
        addr,
        state,
        cancel,
        tasks,
    })
}

/// Connects to Kafka and creates missing topics, retrying until it works or shutdown begins.
async fn prepare_kafka(config: Config, state: Arc<http::AppState>, cancel: CancellationToken) {
    loop {
        let attempt = async {
            let client = kafka::connect(&config.kafka).await?;
            kafka::ensure_topics(&client, &config.topics).await
        };
        let result = tokio::select! {
            result = attempt => result,
            () = cancel.cancelled() => return,
        };
        match result {
            Ok(created) => {
                info!(brokers = %config.kafka.brokers.join(","), ?created, "Kafka ready");
                state.set_kafka_ready(true);
                return;
            }
            Err(error) => warn!(%error, retry_in = ?KAFKA_RETRY, "Kafka not ready"),
        }
        tokio::select! {
            () = tokio::time::sleep(KAFKA_RETRY) => {}
            () = cancel.cancelled() => return,
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
