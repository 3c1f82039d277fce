//! The outbox relay lease: a session-level advisory lock on a connection of its own.
//!
//! Session-level advisory locks belong to the connection, not to a transaction: held for as
//! long as the connection lives, released by the server when it closes — including when the
//! holding process is killed, since the kernel closes its sockets. Each check re-uses the
//! connection: once held, a round trip proves the session (and so the lock) is still there; a
//! broken connection is replaced and the lock asked for again.
use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::{Result, StoreError};

/// The advisory lock key of the outbox relay ("relayout" in ASCII).
pub const RELAY_LOCK: i64 = 0x7265_6c61_796f_7574;

struct State {
    client: Option<Client>,
    held: bool,
}

/// The lease and its connection.
pub(super) struct Lease {
    config: Config,
    tls: MakeRustlsConnect,
    state: Mutex<State>,
}

impl Lease {
    pub fn new(config: Config, tls: MakeRustlsConnect) -> Self {
        Self {
            config,
            tls,
            state: Mutex::new(State {
                client: None,
                held: false,
            }),
        }
    }

    /// Whether the lease is held now; takes it when free. Blocks (a `spawn_blocking` thread).
    pub fn check(&self, handle: &Handle) -> Result<bool> {
        let mut state = self.state.lock();
        let outcome = handle.block_on(self.refresh(&mut state, handle));
        if outcome.is_err() {
            // Whatever went wrong, the lock cannot be counted on: start over next time.
            state.client = None;
            state.held = false;
        }
        outcome
    }

    async fn refresh(&self, state: &mut State, handle: &Handle) -> Result<bool> {
        if state.client.as_ref().is_none_or(Client::is_closed) {
            state.held = false;
            let (client, connection) = self
                .config
                .connect(self.tls.clone())
                .await
                .map_err(StoreError::Postgres)?;
            handle.spawn(connection);
            state.client = Some(client);
        }
        let Some(client) = &state.client else {
            return Ok(false);
        };
        let row = if state.held {
            // Still this session's? (pg_locks lists the lock while the session holds it.)
            client
                .query_one(
                    "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' \
                     AND pid = pg_backend_pid() AND granted \
                     AND ((classid::bigint << 32) | objid::bigint) = $1",
                    &[&RELAY_LOCK],
                )
                .await
        } else {
            client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&RELAY_LOCK])
                .await
        };
        let held: bool = row
            .and_then(|r| r.try_get(0))
            .map_err(StoreError::Postgres)?;
        state.held = held;
        Ok(held)
    }
}
