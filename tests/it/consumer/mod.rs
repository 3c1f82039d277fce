//! The consumer loop in the running service: fetching, dedupe, a SIGKILL mid-stream, an outage,
//! a batch another client wrote that cannot be read.
mod crash;
mod fetch_loop;
mod outage;
mod perf_idle;
mod unreadable_batch;
