//! Whether the process may open as many files as its connection caps let it hold: each HTTP
//! connection, refusal, Kafka connection and database connection is a file descriptor, and a
//! container often starts with a soft limit of 1,024. Past the limit `accept` fails, and the
//! probes, Kafka and the database with it.
//!
//! The binary raises the soft limit to the hard one before the service starts (as Go's runtime
//! does); what is left is said here, once, at start.

use tracing::warn;

use crate::{
    config::{Config, StoreBackend},
    http,
    metrics::proc_stats,
};

/// Descriptors besides the HTTP front's and the database pool's: Kafka (a connection per
/// purpose and broker), the database's lease and notification sessions, the store's files,
/// the log, the runtime's own.
const RESERVE: u64 = 128;

/// How many descriptors the service may hold at its configured caps.
pub(super) fn needed(config: &Config, ops_connections: usize) -> u64 {
    let pool = match config.store.backend {
        StoreBackend::Postgres => config.store.pool_size,
        StoreBackend::Redb => 0,
    };
    let held = config.http.max_connections + http::MAX_REFUSING + ops_connections + pool;
    u64::try_from(held)
        .unwrap_or(u64::MAX)
        .saturating_add(RESERVE)
}

/// Logs a warning when the soft limit is below what the caps need (nothing when unlimited or
/// unreadable, as without `/proc`).
pub(super) fn warn_if_too_few(config: &Config, ops_connections: usize) {
    let Ok(Some(limit)) = proc_stats::open_file_limit() else {
        return;
    };
    let needed = needed(config, ops_connections);
    if limit < needed {
        warn!(
            limit,
            needed,
            max_connections = config.http.max_connections,
            "the process may open {limit} files, and its connection caps need about {needed}: past the limit new connections fail (probes, Kafka, the database too); raise the container's or the shell's open-files limit (ulimit -n) or lower http.max_connections"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_need_more_than_a_container_s_usual_1024() {
        let config = Config::default();
        assert_eq!(needed(&config, 64), 1024 + 256 + 64 + 128);
        assert!(needed(&config, 0) > 1024);
    }
}
