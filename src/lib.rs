//! # usercenter
//!
//! A user-account service with a Kafka event pipeline, shipped as one static binary.
//! Kafka I/O is one client per process ([`kafka::Client`]: a metadata cache and one
//! connection per broker and purpose) on [`rskafka`]'s messenger (framing, ApiVersions, SASL)
//! and `Record` type, `kafka-protocol`'s messages, and record batches of its own
//! (`kafka::records`). See `README.md` for how to run it
//! and `ARCHITECTURE.md` for the data flow, the invariants every module keeps and the tests that
//! check them.
//!
//! ## Layout
//!
//! | module | owns |
//! |---|---|
//! | [`cli`] | command-line arguments (`serve`, `config`, `healthcheck`, `migrate`, `perf`, `group`, `outbox`); nothing else |
//! | [`config`] | the TOML config file, `USERCENTER_*` environment overrides, flag overrides, validation, the database URL redacted for printing |
//! | [`logging`] | `tracing` subscriber set-up (human or JSON lines); the one-line texts of errors, panics and ended tasks |
//! | [`event`] | the six user events, their versioned envelope, and the CloudEvents record binding |
//! | [`ops`] | operator commands: `usercenter group describe` / `reset-offsets` (the consumer group's offsets and lag) and `usercenter outbox parked` / `requeue` (parked outbox rows) |
//! | [`kafka`] | the process's one Kafka client (`kafka::client`: metadata, connections per purpose, topics, offsets, fetch lanes), one broker connection and the typed requests (`kafka::protocol`), TLS and SASL (`kafka::security`), fetched-record reading (`kafka::records`), the group member (`kafka::group`), Kafka's error codes by name (`kafka::error_code`), asking again with a growing pause (`kafka::retry`); imports only `metrics` (its request counters) |
//! | [`producer`] | the producer: partitioner, batching, compression, backpressure, flush, and its one pipeline to the brokers (one task per partition: producer id and sequences, in-flight window, retries under a deadline, splitting, hold-after-failure) |
//! | [`consumer`] | the offset-managed consumer loop: ownership, dedupe, dead letters, and the `RecordHandler` it runs on each record |
//! | [`outbox`] | records to publish, committed with their cause, and the relay that publishes them |
//! | [`store`] | the embedded transactional store behind the `Store` trait (redb backend; PostgreSQL in `pgstore`) |
//! | [`users`] | users, sessions, passwords, throttling; each change to an account with its event in one transaction; the user events decoded from records and the users' handlers of them |
//! | [`http`] | the hyper HTTP front: the user API, health, readiness, metrics (on a listener of their own with `http.ops_listen`), OpenAPI document |
//! | [`service`] | `start`/`run`: wires store, HTTP, producer, relay and consumer |
//! | `metrics` | lock-free counters, gauges, histograms and their Prometheus text (crate-internal) |
//! | [`pgstore`] | the PostgreSQL backend of the `Store` trait: typed tables, migrations, sequences, the relay lease |
//! | [`perf`] | `usercenter perf produce` / `perf consume` load tests |
//! | [`healthcheck`] | `usercenter healthcheck`: one GET of `/health`, for container health checks |
//! | `version` | version, git commit and enabled features, as `--version` prints them (crate-internal) |
//!
//! `main.rs` parses arguments, loads config, starts logging and runs the subcommand (`serve`
//! calls [`service::run`]); it also holds the process-wide allocator settings, the open-files
//! limit and the hashing threads' priority, the binary's only `unsafe` code (the library denies
//! it).
//! Public are the modules that the binary, `tests/`, `testkit/`, `benches/`, `examples/` and
//! `fuzz/` use;
//! the rest is `pub(crate)`.
#![deny(rust_2018_idioms, unsafe_code)]
#![warn(missing_debug_implementations, clippy::future_not_send)]

pub mod cli;
pub mod config;
pub mod consumer;
pub mod event;
pub mod healthcheck;
pub mod http;
pub mod kafka;
pub mod logging;
pub(crate) mod metrics;
pub mod ops;
pub mod outbox;
pub mod perf;
pub mod pgstore;
pub mod producer;
pub mod service;
pub mod store;
pub mod users;
pub(crate) mod version;
