//! The client's connections: at most one per broker and [`Purpose`], and one connect at a time
//! for each.
//!
//! Every request that finds no connection to its broker waits for the same connect: after a
//! broker restart, the partitions that had a request in flight open one connection, not one
//! each (of which all but one were dropped). A connect that fails fails every request waiting
//! for it, and the next request connects again.
use std::{collections::HashMap, sync::Arc};

use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use parking_lot::Mutex;

use super::Purpose;
use crate::kafka::protocol::{ConnectError, ConnectSettings, Connection};

/// A connect every request for its slot awaits.
type Connecting = Shared<BoxFuture<'static, Result<Arc<Connection>, Arc<ConnectError>>>>;

/// A slot of the pool: a connection, or the connect that will give it.
#[derive(Clone)]
enum Slot {
    Open(Arc<Connection>),
    Connecting(Connecting),
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Open(c) => f.debug_tuple("Open").field(c).finish(),
            Self::Connecting(_) => f.write_str("Connecting"),
        }
    }
}

/// (broker address, purpose) → its connection or its connect.
#[derive(Debug, Default)]
pub(super) struct Pool {
    slots: Mutex<HashMap<(String, Purpose), Slot>>,
}

impl Pool {
    /// The open connections, as (broker address, purpose).
    pub(super) fn open(&self) -> Vec<(String, Purpose)> {
        let slots = self.slots.lock();
        let mut open: Vec<_> = (slots.iter())
            .filter(|(_, slot)| matches!(slot, Slot::Open(_)))
            .map(|(key, _)| key.clone())
            .collect();
        open.sort_by(|a, b| (&a.0, a.1 as u8).cmp(&(&b.0, b.1 as u8)));
        open
    }

    /// Any open connection for `purpose`.
    pub(super) fn any_open(&self, purpose: Purpose) -> Option<Arc<Connection>> {
        self.slots
            .lock()
            .iter()
            .find_map(|((_, p), slot)| match slot {
                Slot::Open(c) if *p == purpose => Some(Arc::clone(c)),
                _ => None,
            })
    }

    /// The connection to `addr` for `purpose`: the open one, the one a connect under way
    /// gives, or a new one.
    pub(super) async fn connection(
        &self,
        addr: &str,
        purpose: Purpose,
        settings: &ConnectSettings,
    ) -> Result<Arc<Connection>, Arc<ConnectError>> {
        let key = (addr.to_owned(), purpose);
        let connecting = {
            let mut slots = self.slots.lock();
            match slots.get(&key) {
                Some(Slot::Open(c)) => return Ok(Arc::clone(c)),
                Some(Slot::Connecting(connecting)) => connecting.clone(),
                None => {
                    let (addr, settings) = (addr.to_owned(), settings.clone());
                    let connecting = async move {
                        let connected = Connection::connect(&addr, &settings).await;
                        connected.map(Arc::new).map_err(Arc::new)
                    }
                    .boxed()
                    .shared();
                    slots.insert(key.clone(), Slot::Connecting(connecting.clone()));
                    connecting
                }
            }
        };
        let connected = connecting.clone().await;
        // The first waiter back settles the slot, if it is still this connect's.
        let mut slots = self.slots.lock();
        if let Some(Slot::Connecting(slot)) = slots.get(&key)
            && slot.ptr_eq(&connecting)
        {
            match &connected {
                Ok(c) => slots.insert(key, Slot::Open(Arc::clone(c))),
                Err(_) => slots.remove(&key),
            };
        }
        connected
    }

    /// Drops `connection` from the pool (a request on it failed); the next request to that
    /// broker for that purpose opens a new one.
    pub(super) fn forget(&self, connection: &Arc<Connection>) {
        self.slots
            .lock()
            .retain(|_, slot| !matches!(slot, Slot::Open(c) if Arc::ptr_eq(c, connection)));
    }
}
