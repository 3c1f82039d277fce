//! Command-line arguments. Flags override the config file and the environment; see [`crate::config`].
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{LogFormat, Overrides};

/// User-account service with a Kafka event pipeline.
#[derive(Debug, Parser)]
#[command(name = "usercenter", version = crate::version::VERSION, long_version = crate::version::LONG)]
pub struct Cli {
    /// Log format: human-readable lines (default) or one JSON object per line.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: HTTP front, outbox relay and consumer loop.
    Serve(ServeArgs),
    /// Print the effective configuration (defaults, file, environment and flags merged) as TOML.
    Config(ServeArgs),
    /// Apply the PostgreSQL schema migrations the database lacks, then exit (the service also
    /// applies them at start; several instances may do so at once). Nothing to do for redb.
    Migrate(ServeArgs),
    /// Exit 0 when a running service answers `GET /health` with 200 (for container health
    /// checks: the image has no shell and no curl).
    Healthcheck(HealthcheckArgs),
    /// Load tests against any Kafka cluster.
    #[command(subcommand)]
    Perf(PerfCommand),
    /// Inspect and reset the consumer group's offsets (like kafka-consumer-groups).
    #[command(subcommand)]
    Group(crate::ops::GroupCommand),
    /// List the outbox rows the relay parked, and put them back once their cause is mended.
    #[command(subcommand)]
    Outbox(crate::ops::OutboxCommand),
}

/// `usercenter perf ...`
#[derive(Debug, Subcommand)]
pub enum PerfCommand {
    /// Produce N records through the producer layer and report throughput, CPU and latency.
    Produce(crate::perf::produce::ProduceArgs),
    /// Read N records of any topic through the consumer loop and report throughput and CPU.
    Consume(crate::perf::consume::ConsumeArgs),
}

/// Flags of `serve`; each overrides the same setting from the config file and the environment.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// TOML config file (every field: docs/configuration.md; `usercenter config` prints the merged
    /// result, unset optional fields left out).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap brokers, comma-separated (overrides `kafka.brokers`).
    #[arg(long, value_name = "HOST:PORT[,...]", value_delimiter = ',')]
    pub brokers: Option<Vec<String>>,
    /// HTTP listen address (overrides `http.listen`).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Directory of the embedded store (overrides `store.data_dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// This instance's number among `--instances` (overrides `consumer.instance`).
    #[arg(long, value_name = "I")]
    pub instance: Option<u32>,
    /// How many instances split the events topic (overrides `consumer.instances`).
    #[arg(long, value_name = "N")]
    pub instances: Option<u32>,
}

impl ServeArgs {
    /// What these flags override in the configuration.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            brokers: self.brokers.clone(),
            listen: self.listen.clone(),
            data_dir: self.data_dir.clone(),
            instance: self.instance,
            instances: self.instances,
        }
    }
}

/// Flags of `healthcheck`.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// URL to GET. Default: `/health` on the configured `http.ops_listen`, else `http.listen`
    /// (0.0.0.0 and `[::]` are reached on loopback).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECS", default_value_t = 3)]
    pub timeout_secs: u64,
    /// TOML config file, read like `serve` reads it (with the environment) for `http.ops_listen`,
    /// else `http.listen`.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// HTTP listen address of the service, where `/health` is asked (overrides `http.listen`
    /// and `http.ops_listen`).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
}

impl HealthcheckArgs {
    /// The config overrides of these flags: the ones that locate the service.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            listen: self.listen.clone(),
            ..Overrides::default()
        }
    }
}
