//! `usercenter perf ...`: load tests against any cluster, like Kafka's `*-perf-test` tools.
//! Progress goes to stderr every few seconds; one summary line goes to stdout.
pub mod consume;
pub mod produce;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Why a load test could not reach Kafka.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PerfClientError {
    /// The configuration (from the environment) is invalid.
    #[error("Kafka settings: {0}")]
    Settings(String),
    /// The TLS settings cannot be used.
    #[error(transparent)]
    Security(#[from] crate::kafka::security::SecurityError),
}

/// The Kafka client for a load test against `brokers`, with the TLS and SASL settings `serve`
/// takes from the environment (`USERCENTER_KAFKA_SECURITY_PROTOCOL`,
/// `USERCENTER_KAFKA_TLS_CA_FILE`, `USERCENTER_KAFKA_SASL_*`, ...), and the whole configuration
/// it used (the producer settings select the transport, as in `serve`).
pub fn client(
    brokers: &[String],
) -> Result<(Arc<crate::kafka::Client>, crate::config::Config), PerfClientError> {
    let mut config = crate::config::env_vars()
        .and_then(|env| crate::config::load(&crate::config::Overrides::default(), env))
        .map_err(|e| PerfClientError::Settings(e.to_string()))?;
    // Checked as `serve` checks `kafka.brokers`.
    for broker in brokers {
        crate::config::check_broker(broker)
            .map_err(|e| PerfClientError::Settings(format!("--brokers: {e}")))?;
    }
    config.kafka.brokers = brokers.to_vec();
    config.kafka.client_id = "usercenter-perf".into();
    config.kafka.warn_if_password_in_clear();
    let settings = config.kafka.connect_settings()?;
    let client = Arc::new(crate::kafka::Client::new(brokers.to_vec(), settings));
    Ok((client, config))
}

/// User + system CPU seconds of this process so far (from `/proc/self/stat`; 0 elsewhere).
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; in clock
    // ticks of USER_HZ, which Linux fixes at 100 for this interface.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// Prints a progress line to stderr at most every `every`.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    last: Instant,
    every: Duration,
}

impl Progress {
    /// Starts the clock.
    pub fn new(every: Duration) -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last: now,
            every,
        }
    }

    /// Reports `done` of `total` if it is time to.
    pub fn tick(&mut self, what: &str, done: u64, total: u64) {
        if self.last.elapsed() >= self.every {
            self.last = Instant::now();
            let secs = self.started.elapsed().as_secs_f64();
            eprintln!(
                "{what}: {done}/{total} records, {:.0} records/s, {:.1} s",
                done as f64 / secs.max(1e-9),
                secs
            );
        }
    }
}

#[cfg(test)]
mod tests;
