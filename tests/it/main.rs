//! The integration tests, one binary: each module is an area of the service, tested against real
//! parts (a Nisshi broker per test, a private PostgreSQL cluster, the librdkafka peer, the
//! `usercenter` binary). The harness they share is the `testkit` crate (`testkit/`).
//!
//! Run them with `cargo nextest run` (its per-test time limits are in `.config/nextest.toml`),
//! or all of the suite with `deploy/test.sh`.
mod consumer;
mod group;
mod postgres;
mod producer;
mod protocol;
mod security;
mod service;
