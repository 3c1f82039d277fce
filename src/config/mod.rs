//! Service configuration: one TOML file, every field optional with a default that runs locally.
//!
//! Precedence, lowest to highest: built-in defaults, the config file (`--config FILE`),
//! `USERCENTER_<SECTION>_<FIELD>` environment variables (for example `USERCENTER_KAFKA_BROKERS`,
//! `USERCENTER_HTTP_LISTEN`; lists are comma-separated), then command-line flags.
//! Unknown fields are rejected, and every error names the field at fault in one line.
//! `usercenter config` prints the merged result.
use std::{net::SocketAddr, path::PathBuf};

use serde::{Deserialize, Serialize};

mod consumer;
mod error;
mod kafka;
mod load;
mod log_level;
mod producer;
mod redact;
mod validate;

pub use consumer::{ASSIGNORS, AssignmentMode, ConsumerConfig, FETCH_MAX_BYTES, StartPolicy};
pub use error::ConfigError;
pub(crate) use kafka::check_broker;
pub use kafka::{KafkaConfig, SaslMechanism, SecurityProtocol};
pub use load::{ENV_PREFIX, Overrides, env_vars, from_toml, load, load_http};
pub use producer::{BufferFullPolicy, Codec, Partitioner, ProducerConfig};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The HTTP front.
    pub http: HttpConfig,
    /// How to reach Kafka.
    pub kafka: KafkaConfig,
    /// Topic names and how they are created when missing.
    pub topics: TopicsConfig,
    /// How the user events are encoded.
    pub events: EventsConfig,
    /// The embedded store.
    pub store: StoreConfig,
    /// The producer layer: batching, compression, retries, buffer.
    pub producer: ProducerConfig,
    /// The consumer loop: ownership, start policy, fetch sizes, retries, dead letters.
    pub consumer: ConsumerConfig,
    /// Sessions and the first admin.
    pub auth: AuthConfig,
    /// Logging.
    pub log: LogConfig,
}

impl Config {
    /// A copy with the secrets (passwords) replaced by `<redacted>`, for printing.
    pub fn redacted(&self) -> Config {
        let mut copy = self.clone();
        copy.kafka.sasl_password = redact(&self.kafka.sasl_password);
        copy.auth.admin_password = redact(&self.auth.admin_password);
        copy.store.url = redact::database_url(&self.store.url);
        copy
    }
}

/// `<redacted>` in place of a secret that is set.
fn redact(secret: &Option<String>) -> Option<String> {
    secret.as_ref().map(|_| "<redacted>".to_owned())
}

/// `[http]`: the HTTP front.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address and port to listen on. Default `127.0.0.1:8080`; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where `/health`, `/ready` and `/metrics` are served instead, when set (for example
    /// `0.0.0.0:9090`): kept off the API's port, so that what `/metrics` counts is not public
    /// and probes get a connection slot while clients hold every one of the API's. Default
    /// unset: served on `listen`.
    pub ops_listen: Option<SocketAddr>,
    /// `/ready` answers 503 while more outbox rows than this wait to be published. Default 10000.
    pub ready_max_backlog: u64,
    /// Open connections at most; more are answered 503 with `Retry-After` and closed.
    /// Default 1024.
    pub max_connections: usize,
    /// Open connections from one client address (an IPv6 /64) at most; more are answered 503
    /// with `Retry-After` and closed. An IPv6 /48 holds at most a quarter of
    /// `max_connections`, and at least this. Default 64.
    pub max_connections_per_client: usize,
    /// Seconds a response may make no progress (the client stopped reading) before the
    /// connection is closed, freeing its slot; between two writes, not for the whole
    /// response (nginx's `send_timeout`). Default 30.
    pub send_timeout_secs: u64,
    /// The proxies (an ingress, a load balancer) whose `X-Forwarded-For` names the client: a
    /// list of addresses or ranges (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`). A request from
    /// one of them counts against the client that header names, for the login throttles and
    /// the IP its events carry, and the proxy's connections are not held to one client's
    /// share of the slots. Default empty: every peer is its own client.
    pub trusted_proxies: Vec<String>,
}

impl HttpConfig {
    /// [`HttpConfig::trusted_proxies`] parsed; those that do not parse are left out (the
    /// loaded configuration was checked: none).
    pub fn trusted_proxy_ranges(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|r| proxy_range(r).ok())
            .collect()
    }
}

/// An address range (`10.0.0.0/8`) or a single address (`192.0.2.7`, the range of it alone).
pub(crate) fn proxy_range(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map(|net| match net {
            // An IPv4-mapped IPv6 range matches nothing: addresses are compared as IPv4.
            ipnet::IpNet::V6(v6) => v6
                .addr()
                .to_ipv4_mapped()
                .filter(|_| v6.prefix_len() >= 96)
                .and_then(|v4| ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).ok())
                .map_or(net, ipnet::IpNet::V4),
            v4 => v4,
        })
        .map_err(|_| format!("`{text}` is not an address or a range (10.0.0.0/8)"))
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            ops_listen: None,
            ready_max_backlog: 10_000,
            max_connections: 1024,
            max_connections_per_client: 64,
            send_timeout_secs: 30,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[topics]`: the service's topics, created with these settings when missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// Topic of the six user events (key = user id). Default `user.events`.
    pub events: String,
    /// Topic of notifications for the delivery services. Default `user.notifications`.
    pub notifications: String,
    /// Topic of analytics records. Default `user.analytics`.
    pub analytics: String,
    /// Partition count of topics this service creates. Default 3.
    pub partitions: i32,
    /// Replication factor of topics this service creates. Default 1 (a single local broker).
    pub replication_factor: i16,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        Self {
            events: "user.events".to_owned(),
            notifications: "user.notifications".to_owned(),
            analytics: "user.analytics".to_owned(),
            partitions: 3,
            replication_factor: 1,
        }
    }
}

impl TopicsConfig {
    /// Every topic the service writes, in a fixed order.
    pub fn all(&self) -> [&str; 3] {
        [&self.events, &self.notifications, &self.analytics]
    }
}

/// `[events]`: how the service writes the values of its user events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// `postcard` (default, compact) or `json` (for consumers without postcard). The consumer
    /// reads both whatever this says: each record's `content-type` header names its encoding.
    pub encoding: crate::event::ContentType,
}

/// `[auth]`: sessions and the first admin account. Its `Debug` hides the admin password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a session token lives, in seconds. Default 86400 (a day).
    pub session_ttl_secs: u64,
    /// User name of an admin account created at start when it does not exist. Default none.
    pub admin_username: Option<String>,
    /// E-mail address of that admin.
    pub admin_email: Option<String>,
    /// Password of that admin (prefer `USERCENTER_AUTH_ADMIN_PASSWORD` to a file).
    pub admin_password: Option<String>,
    /// Failed logins per account from one source (an IPv4 address, an IPv6 /64) per window.
    /// Default 5.
    pub login_failures_per_source: usize,
    /// Failed logins per account from all sources per window. Default 50.
    pub login_failures_per_account: usize,
    /// Failed logins per source (an IPv4 address, an IPv6 /64) per window, whatever the
    /// account. Default 20.
    pub login_failures_per_ip: usize,
    /// The login throttling window in seconds. Default 600.
    pub login_window_secs: u64,
    /// Keys each login throttle tracks at most (about 200 bytes each). Default 100000.
    pub throttle_max_keys: usize,
    /// Sessions per user; a new one beyond revokes the oldest. Default 20.
    pub max_sessions_per_user: usize,
    /// How often expired sessions are removed, in seconds. Default 300.
    pub session_prune_secs: u64,
    /// Threads that compute password hashes (argon2id, a 19 MiB working area each, kept until
    /// the thread has had no hash for 10 s): at most this many hashes run at once. 0, the default, means one per CPU.
    pub hashing_threads: usize,
    /// Password hashes queued or running at most; a login, registration or password change
    /// beyond is answered 503 `hashing_busy` with `Retry-After`. 0, the default, means 64 per
    /// hashing thread, at most 256 (a waiting hash keeps one of Tokio's 512 blocking threads);
    /// never fewer than `hashing_threads`.
    pub max_pending_hashes: usize,
    /// Password hashes of one client (an IPv4 address, an IPv6 /48, after
    /// `http.trusted_proxies`) queued or running at most; beyond, 503 `hashing_busy` as
    /// above. 0, the default, means a quarter of `max_pending_hashes`.
    pub max_pending_hashes_per_client: usize,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("session_ttl_secs", &self.session_ttl_secs)
            .field("admin_username", &self.admin_username)
            .field("admin_email", &self.admin_email)
            .field("admin_password", &redact(&self.admin_password))
            .field("login_failures_per_source", &self.login_failures_per_source)
            .field(
                "login_failures_per_account",
                &self.login_failures_per_account,
            )
            .field("login_failures_per_ip", &self.login_failures_per_ip)
            .field("login_window_secs", &self.login_window_secs)
            .field("throttle_max_keys", &self.throttle_max_keys)
            .field("max_sessions_per_user", &self.max_sessions_per_user)
            .field("session_prune_secs", &self.session_prune_secs)
            .field("hashing_threads", &self.hashing_threads)
            .field("max_pending_hashes", &self.max_pending_hashes)
            .field(
                "max_pending_hashes_per_client",
                &self.max_pending_hashes_per_client,
            )
            .finish()
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl_secs: 86_400,
            admin_username: None,
            admin_email: None,
            admin_password: None,
            login_failures_per_source: 5,
            login_failures_per_account: 50,
            login_failures_per_ip: 20,
            login_window_secs: 600,
            throttle_max_keys: 100_000,
            max_sessions_per_user: 20,
            session_prune_secs: 300,
            hashing_threads: 0,
            max_pending_hashes: 0,
            max_pending_hashes_per_client: 0,
        }
    }
}

/// `[store]`: where users, sessions, outbox and consumer state live.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `redb` (one embedded file, one instance) or `postgres` (several instances). Default redb.
    pub backend: StoreBackend,
    /// Directory holding the store file (redb) and this instance's producer id (both
    /// backends); created when missing. Default `data`.
    pub data_dir: PathBuf,
    /// `postgres://user:password@host:port/db?sslmode=require`, for the postgres backend
    /// (env `USERCENTER_STORE_URL`). TLS goes through rustls.
    pub url: String,
    /// Connections in the PostgreSQL pool. Default 16.
    pub pool_size: usize,
    /// PEM file of the CA certificates that sign the database's certificate (a private CA, a
    /// cloud provider's), trusted instead of the compiled-in Mozilla roots. Unset by default.
    pub tls_ca_file: Option<PathBuf>,
}

/// The URL's password redacted.
impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("backend", &self.backend)
            .field("data_dir", &self.data_dir)
            .field("url", &redact::database_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("tls_ca_file", &self.tls_ca_file)
            .finish()
    }
}

/// The store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// The embedded redb file.
    #[default]
    Redb,
    /// A PostgreSQL database shared by every instance.
    Postgres,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Redb,
            data_dir: PathBuf::from("data"),
            url: String::new(),
            pool_size: 16,
            tls_ca_file: None,
        }
    }
}

/// `[log]`: logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `human` (default) or `json`.
    pub format: LogFormat,
    /// Filter in `tracing` syntax, for example `info` or `usercenter=debug,rskafka=warn`.
    /// `RUST_LOG` wins when set. Default `info,rskafka=warn`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info,rskafka=warn".to_owned(),
        }
    }
}

/// Log line format (`log.format`, or `--log-format` for every command).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, one line per event.
    Human,
    /// One JSON object per line.
    Json,
}
