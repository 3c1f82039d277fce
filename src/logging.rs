//! `tracing` set-up: human-readable lines by default, one JSON object per line with
//! `--log-format json` (or `log.format = "json"`). `RUST_LOG` overrides `log.level`. A failure
//! that repeats through an outage is said rate-limited ([`FailureStreak`]).
mod failure_streak;

pub(crate) use failure_streak::{FailureStreak, say_failure, say_recovery};
use tracing_subscriber::{EnvFilter, fmt};

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. Fails with a one-line message when the filter is invalid.
pub fn init(config: &LogConfig) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => {
            EnvFilter::try_new(&env).map_err(|e| format!("RUST_LOG: {e}"))?
        }
        _ => EnvFilter::try_new(&config.level).map_err(|e| format!("log.level: {e}"))?,
    };
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| format!("logging: {e}"))
}

/// An error and its causes on one line, `outer: cause: root cause`, as the command line prints
/// a failure.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// What a panic said (a payload of `panic!`, `catch_unwind` or a task's `JoinError`): its
/// message when it is text.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// How a task that should have run on ended: `what` and its panic's message, or that it
/// returned.
pub fn task_ended(what: &str, ended: Result<(), tokio::task::JoinError>) -> String {
    match ended {
        Err(e) if e.is_panic() => {
            let why = panic_message(&*e.into_panic());
            format!("{what} panicked: {why}")
        }
        Err(e) => format!("{what} was cancelled: {e}"),
        Ok(()) => format!("{what} ended"),
    }
}
