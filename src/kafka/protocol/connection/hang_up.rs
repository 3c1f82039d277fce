//! Whether the broker has hung up a connection: its end of the stream, or a read that failed;
//! or we gave up on it (a request unanswered in time).
//!
//! A broker closes a connection that has been idle for `connections.max.idle.ms` (10 minutes by
//! default): a quiet service's Produce connection, between two registrations. rskafka's
//! messenger reads every connection all the time, so it sees the end of the stream at once and
//! fails every later request on it, but it does not say so until one is made. The stream under
//! the messenger ([`super::watched::Watched`]) notes it here, so that a connection is replaced before a request is made on
//! it ([`super::Connection::is_closed`]), rather than that request failing and being retried.
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

/// Set once the stream it watches has ended or failed; never cleared.
#[derive(Debug, Clone, Default)]
pub(super) struct HangUp(Arc<AtomicBool>);

impl HangUp {
    /// Whether the stream has ended or failed.
    pub(super) fn happened(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    pub(super) fn note(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Sets it for a connection given up on while its stream still looks open (a request that
    /// got no answer in time).
    pub(in crate::kafka::protocol) fn give_up(&self) {
        self.note();
    }
}
