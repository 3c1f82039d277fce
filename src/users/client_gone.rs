//! Whether the client that asked for some work is still there. The HTTP front sets it when a
//! request's future is dropped (the client reset or closed the connection), so that work not
//! begun by then, a password hash queued behind others, is skipped rather than computed for
//! nobody.
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

/// Set once the request that asked for the work is gone. A default one is never set (work
/// the service starts on its own).
#[derive(Debug, Clone, Default)]
pub struct ClientGone(Arc<AtomicBool>);

impl ClientGone {
    /// Whether the client is gone.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// A guard that sets it when dropped: the request's future holds it.
    pub fn set_on_drop(&self) -> SetOnDrop {
        SetOnDrop(self.clone())
    }
}

/// Sets its [`ClientGone`] when dropped.
#[derive(Debug)]
pub struct SetOnDrop(ClientGone);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.0.store(true, Ordering::Release);
    }
}
