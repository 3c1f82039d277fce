//! The rules a loaded configuration must keep, section by section: values a setting cannot
//! mean (a zero window, a zero limit), names Kafka refuses, and settings that only go together.
use super::{AuthConfig, Config, ConfigError, StoreConfig, TopicsConfig};

/// Checks `config` section by section; the first problem found is the error.
pub(super) fn validate(config: &Config) -> Result<(), ConfigError> {
    config.kafka.check()?;
    validate_topics(&config.topics)?;
    config
        .producer
        .check()
        .map_err(|(field, problem)| ConfigError::field(field, problem))?;
    config
        .consumer
        .check()
        .map_err(|(field, problem)| ConfigError::field(field, problem))?;
    check_topic(&config.consumer.dlq_topic)
        .map_err(|p| ConfigError::field("consumer.dlq_topic", p))?;
    distinct_topics(config)?;
    validate_auth(&config.auth)?;
    at_least_one(&[
        ("http.max_connections", config.http.max_connections as u64),
        (
            "http.max_connections_per_client",
            config.http.max_connections_per_client as u64,
        ),
        // 0 would make `/ready` answer 503 whenever a single row waits to be published.
        ("http.ready_max_backlog", config.http.ready_max_backlog),
    ])?;
    // Past a million the limit is no limit, and far past it Tokio's semaphore refuses it
    // (a panic in the listener's task, with `/health` on the ops listener still answering).
    at_most(&[
        (
            "http.max_connections",
            config.http.max_connections as u64,
            MAX_CONNECTIONS,
        ),
        (
            "http.max_connections_per_client",
            config.http.max_connections_per_client as u64,
            MAX_CONNECTIONS,
        ),
    ])?;
    if let Some(ops) = config.http.ops_listen
        && ops == config.http.listen
        && ops.port() != 0
    {
        return Err(ConfigError::field(
            "http.ops_listen",
            "must be another address or port than http.listen",
        ));
    }
    for (i, range) in config.http.trusted_proxies.iter().enumerate() {
        super::proxy_range(range)
            .map_err(|p| ConfigError::field(format!("http.trusted_proxies[{i}]"), p))?;
    }
    if !(1..=3_600).contains(&config.http.send_timeout_secs) {
        return Err(ConfigError::field(
            "http.send_timeout_secs",
            "must be 1 to 3600",
        ));
    }
    super::log_level::check(&config.log.level).map_err(|p| ConfigError::field("log.level", p))?;
    validate_store(&config.store)
}

/// `[topics]`: legal names, at least one partition and one replica.
fn validate_topics(topics: &TopicsConfig) -> Result<(), ConfigError> {
    for (field, name) in [
        ("topics.events", &topics.events),
        ("topics.notifications", &topics.notifications),
        ("topics.analytics", &topics.analytics),
    ] {
        check_topic(name).map_err(|p| ConfigError::field(field, p))?;
    }
    if topics.partitions < 1 {
        return Err(ConfigError::field(
            "topics.partitions",
            "must be at least 1",
        ));
    }
    if topics.replication_factor < 1 {
        return Err(ConfigError::field(
            "topics.replication_factor",
            "must be at least 1",
        ));
    }
    Ok(())
}

/// Most password hashing threads `auth.hashing_threads` may ask for: 19 MiB each while in use.
const MAX_HASHING_THREADS: usize = 256;

/// Most hashes queued or running `auth.max_pending_hashes` may allow: each keeps one of
/// Tokio's 512 blocking threads, and the store's work needs some of the rest.
const MAX_PENDING_HASHES: usize = 448;

/// `[auth]`: a session lifetime of at most a year, the first admin's fields all or none, and a
/// hashing pool whose working memory stays under 5 GiB.
fn validate_auth(auth: &AuthConfig) -> Result<(), ConfigError> {
    if auth.hashing_threads > MAX_HASHING_THREADS {
        return Err(ConfigError::field(
            "auth.hashing_threads",
            "must be 0 (one per CPU) to 256",
        ));
    }
    if auth.max_pending_hashes > MAX_PENDING_HASHES {
        return Err(ConfigError::field(
            "auth.max_pending_hashes",
            "must be 0 (64 per hashing thread, at most 256) to 448",
        ));
    }
    if auth.max_pending_hashes_per_client > MAX_PENDING_HASHES {
        return Err(ConfigError::field(
            "auth.max_pending_hashes_per_client",
            "must be 0 (a quarter of max_pending_hashes) to 448",
        ));
    }
    // A limit of 0 is not "no limit": the throttles would lock out at the first failure, a
    // zero window would forget every failure at once.
    at_least_one(&[
        (
            "auth.login_failures_per_source",
            auth.login_failures_per_source as u64,
        ),
        (
            "auth.login_failures_per_account",
            auth.login_failures_per_account as u64,
        ),
        (
            "auth.login_failures_per_ip",
            auth.login_failures_per_ip as u64,
        ),
        ("auth.login_window_secs", auth.login_window_secs),
        ("auth.throttle_max_keys", auth.throttle_max_keys as u64),
        (
            "auth.max_sessions_per_user",
            auth.max_sessions_per_user as u64,
        ),
        ("auth.session_prune_secs", auth.session_prune_secs),
    ])?;
    // A period far past a week would overflow the clock its timer adds it to.
    at_most(&[
        ("auth.login_window_secs", auth.login_window_secs, WEEK_SECS),
        (
            "auth.session_prune_secs",
            auth.session_prune_secs,
            WEEK_SECS,
        ),
    ])?;
    if auth.session_ttl_secs == 0 || auth.session_ttl_secs > 366 * 86_400 {
        return Err(ConfigError::field(
            "auth.session_ttl_secs",
            "must be 1 to 31622400",
        ));
    }
    let admin = [
        &auth.admin_username,
        &auth.admin_email,
        &auth.admin_password,
    ];
    if admin.iter().any(|f| f.is_some()) && !admin.iter().all(|f| f.is_some()) {
        return Err(ConfigError::field(
            "auth.admin_username",
            "admin_username, admin_email and admin_password go together",
        ));
    }
    Ok(())
}

/// Most connections `store.pool_size` may ask for: far past what PostgreSQL serves by default
/// (100), and the pool allocates its room for them up front.
const MAX_POOL_SIZE: u64 = 1_024;

/// `store.url` as tokio-postgres reads it, with `store.tls_ca_file`: errors that name an option
/// or a position, never a value (the password stays out).
fn check_database_url(store: &StoreConfig) -> Result<(), ConfigError> {
    let read = store.url.parse::<tokio_postgres::Config>().map_err(|e| {
        ConfigError::field("store.url", format!("not a usable PostgreSQL URL: {e}"))
    })?;
    // Read without an error, but not as meant: the connection would go to part of the
    // password as a host name, and fail with a name lookup.
    if super::redact::host_misread(&read) {
        return Err(ConfigError::field(
            "store.url",
            "its host holds '@', '/', '?', '&' or '=': a password that holds them must be \
             percent-encoded (%40, %2F, %3F, %26, %3D)",
        ));
    }
    // The CA file says TLS is wanted; the URL says no TLS at all.
    if store.tls_ca_file.is_some()
        && read.get_ssl_mode() == tokio_postgres::config::SslMode::Disable
    {
        return Err(ConfigError::field(
            "store.tls_ca_file",
            "is set, but store.url says sslmode=disable: the connection would not be encrypted; \
             remove one of them",
        ));
    }
    Ok(())
}

/// `[store]`: a data directory, a connection or more, and a URL for PostgreSQL only.
fn validate_store(store: &StoreConfig) -> Result<(), ConfigError> {
    at_least_one(&[("store.pool_size", store.pool_size as u64)])?;
    at_most(&[("store.pool_size", store.pool_size as u64, MAX_POOL_SIZE)])?;
    if store.data_dir.as_os_str().is_empty() {
        return Err(ConfigError::field("store.data_dir", "must not be empty"));
    }
    let postgres = store.backend == super::StoreBackend::Postgres;
    if postgres && store.url.is_empty() {
        return Err(ConfigError::field(
            "store.url",
            "the postgres backend needs a postgres:// URL",
        ));
    }
    if postgres {
        check_database_url(store)?;
    }
    // Several instances given a database's URL but not the backend would each keep users in a
    // file of their own, and start as if nothing were wrong.
    if !postgres && store.tls_ca_file.is_some() {
        return Err(ConfigError::field(
            "store.tls_ca_file",
            "is for the postgres backend (store.backend = \"postgres\")",
        ));
    }
    if !postgres && !store.url.is_empty() {
        return Err(ConfigError::field(
            "store.url",
            "is set, but store.backend is redb (the default): set store.backend = \"postgres\" \
             (USERCENTER_STORE_BACKEND=postgres) to use the database, or leave the URL out",
        ));
    }
    Ok(())
}

/// Most connections `http.max_connections` and `http.max_connections_per_client` may allow.
const MAX_CONNECTIONS: u64 = 1_000_000;

/// A week in seconds: the longest period of a timer or window in `[auth]`.
pub(super) const WEEK_SECS: u64 = 7 * 86_400;

/// Each of `settings` (name, value, most) is at most its most.
fn at_most(settings: &[(&str, u64, u64)]) -> Result<(), ConfigError> {
    match settings.iter().find(|(_, value, most)| value > most) {
        Some((name, _, most)) => Err(ConfigError::field(*name, format!("must be at most {most}"))),
        None => Ok(()),
    }
}

/// Each of `settings` (name, value) is at least 1.
fn at_least_one(settings: &[(&str, u64)]) -> Result<(), ConfigError> {
    match settings.iter().find(|(_, value)| *value == 0) {
        Some((name, _)) => Err(ConfigError::field(*name, "must be at least 1")),
        None => Ok(()),
    }
}

/// The four topics are four: the consumer reads `topics.events` and writes the other three.
/// A notification, analytics record or dead letter written to the topic it reads would be read
/// back as an event (a dead letter with no `ce_id` of its own, under a new sequence each time,
/// would be dead-lettered again for good).
fn distinct_topics(config: &Config) -> Result<(), ConfigError> {
    let topics = [
        ("topics.events", &config.topics.events),
        ("topics.notifications", &config.topics.notifications),
        ("topics.analytics", &config.topics.analytics),
        ("consumer.dlq_topic", &config.consumer.dlq_topic),
    ];
    for (i, (field, name)) in topics.iter().enumerate() {
        if let Some((other, _)) = topics[..i].iter().find(|(_, n)| n == name) {
            return Err(ConfigError::field(
                *field,
                format!("`{name}` is already {other}: each of the four topics needs its own name"),
            ));
        }
    }
    Ok(())
}

/// Kafka's rule: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn check_topic(name: &str) -> Result<(), String> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty()
        || name.len() > 249
        || name == "."
        || name == ".."
        || !name.chars().all(legal)
    {
        return Err(format!(
            "`{name}` is not a legal topic name (1-249 characters of a-z A-Z 0-9 . _ -)"
        ));
    }
    Ok(())
}
