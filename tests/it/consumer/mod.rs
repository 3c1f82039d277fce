//! The consumer loop in the running service: fetching, dedupe, a SIGKILL mid-stream, an outage.
mod crash;
mod fetch_loop;
mod outage;
