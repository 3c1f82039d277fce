//! The client's connections: at most one per broker and [`Purpose`], and one connect at a time
//! for each.
//!
//! Every request that finds no connection to its broker waits for the same connect: after a
//! broker restart, the partitions that had a request in flight open one connection, not one
//! each (of which all but one were dropped). A connect runs on a task of its own, within the
//! connect timeout, whether or not anyone still waits for it, and puts its connection in the
//! pool when it ends. One that fails fails every request waiting for it, and the next request
//! connects again. A connection the broker has hung up ([`Connection::is_closed`]: idle past
//! the broker's `connections.max.idle.ms`, a broker restart) is not handed out: the request
//! that finds it connects again, rather than failing on it.
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use parking_lot::Mutex;

use super::Purpose;
use crate::kafka::protocol::{ConnectError, ConnectSettings, Connection};

/// A connect every request for its slot awaits.
type Connecting = Shared<BoxFuture<'static, Result<Arc<Connection>, Arc<ConnectError>>>>;

/// A slot of the pool: a connection, or the connect that will give it (`id` tells one connect
/// of a slot from the next).
#[derive(Clone)]
enum Slot {
    Open(Arc<Connection>),
    Connecting { id: u64, outcome: Connecting },
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Open(c) => f.debug_tuple("Open").field(c).finish(),
            Self::Connecting { id, .. } => f.debug_struct("Connecting").field("id", id).finish(),
        }
    }
}

/// The slots: (broker address, purpose) → its connection or its connect.
type Slots = Mutex<HashMap<(String, Purpose), Slot>>;

/// The pool; see the module docs.
#[derive(Debug, Default)]
pub(super) struct Pool {
    slots: Arc<Slots>,
    /// The next connect's id.
    next_id: AtomicU64,
}

/// Puts what the connect `id` of the slot `key` gave in its place, if the slot still waits for
/// it: the connection, or nothing after a failure (the next request connects again).
fn settle(
    slots: &Slots,
    key: &(String, Purpose),
    id: u64,
    outcome: &Result<Arc<Connection>, Arc<ConnectError>>,
) {
    let mut slots = slots.lock();
    if !matches!(slots.get(key), Some(Slot::Connecting { id: waiting, .. }) if *waiting == id) {
        return;
    }
    match outcome {
        Ok(c) => slots.insert(key.clone(), Slot::Open(Arc::clone(c))),
        Err(_) => slots.remove(key),
    };
}

impl Pool {
    /// The open connections, as (broker address, purpose): not those the broker hung up.
    pub(super) fn open(&self) -> Vec<(String, Purpose)> {
        let slots = self.slots.lock();
        let mut open: Vec<_> = (slots.iter())
            .filter(|(_, slot)| matches!(slot, Slot::Open(c) if !c.is_closed()))
            .map(|(key, _)| key.clone())
            .collect();
        open.sort_by(|a, b| (&a.0, a.1 as u8).cmp(&(&b.0, b.1 as u8)));
        open
    }

    /// Any open connection for `purpose` that the broker has not hung up.
    pub(super) fn any_open(&self, purpose: Purpose) -> Option<Arc<Connection>> {
        self.slots
            .lock()
            .iter()
            .find_map(|((_, p), slot)| match slot {
                Slot::Open(c) if *p == purpose && !c.is_closed() => Some(Arc::clone(c)),
                _ => None,
            })
    }

    /// The connection to `addr` for `purpose`: the open one, the one a connect under way
    /// gives, or a new one (also in place of one the broker hung up).
    pub(super) async fn connection(
        &self,
        addr: &str,
        purpose: Purpose,
        settings: &ConnectSettings,
    ) -> Result<Arc<Connection>, Arc<ConnectError>> {
        let key = (addr.to_owned(), purpose);
        let (id, outcome) = {
            let mut slots = self.slots.lock();
            match slots.get(&key) {
                Some(Slot::Open(c)) if !c.is_closed() => return Ok(Arc::clone(c)),
                Some(Slot::Connecting { id, outcome }) => (*id, outcome.clone()),
                Some(Slot::Open(_)) | None => {
                    let id = self.next_id.fetch_add(1, Relaxed);
                    let outcome = self.start(key.clone(), id, settings);
                    let slot = Slot::Connecting {
                        id,
                        outcome: outcome.clone(),
                    };
                    slots.insert(key.clone(), slot);
                    (id, outcome)
                }
            }
        };
        let connected = outcome.await;
        // The task settled the slot; a task that panicked did not.
        settle(&self.slots, &key, id, &connected);
        connected
    }

    /// Starts the connect `id` of the slot `key` on a task of its own, so that it goes on when
    /// every request waiting for it is cancelled (a deadline, a revocation), and settles the
    /// slot when it ends: no request later finds a connect nobody drove, whose deadline passed.
    fn start(&self, key: (String, Purpose), id: u64, settings: &ConnectSettings) -> Connecting {
        let slots = Arc::downgrade(&self.slots);
        let settings = settings.clone();
        let addr = key.0.clone();
        let task = tokio::spawn(async move {
            let connected = Connection::connect(&key.0, &settings).await;
            let connected = connected.map(Arc::new).map_err(Arc::new);
            if let Some(slots) = slots.upgrade() {
                settle(&slots, &key, id, &connected);
            }
            connected
        });
        task.map(move |joined| {
            joined.unwrap_or_else(|error| {
                let source = std::io::Error::other(error);
                Err(Arc::new(ConnectError::Io { addr, source }))
            })
        })
        .boxed()
        .shared()
    }

    /// Drops `connection` from the pool (a request on it failed); the next request to that
    /// broker for that purpose opens a new one.
    pub(super) fn forget(&self, connection: &Arc<Connection>) {
        self.slots
            .lock()
            .retain(|_, slot| !matches!(slot, Slot::Open(c) if Arc::ptr_eq(c, connection)));
    }
}
