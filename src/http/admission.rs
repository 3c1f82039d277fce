//! Which accepted connections are served. Every connection is accepted at once (none waits in
//! the listen backlog, where a client cannot tell a full server from a dead one); one beyond
//! `http.max_connections`, or beyond `http.max_connections_per_client` from one address, gets
//! a minimal `503` with `Retry-After` and is closed. The per-address cap keeps one client
//! (say, a pool of slow-body senders) from taking every slot. An IPv6 client counts by its
//! /64, and its site (its /48) holds at most a quarter of the slots ([`site_share`]): a /48
//! holds 65,536 /64s, and without it 16 of them would take every slot at the defaults.
//!
//! ```text
//! accept ─► admit(ip) ─► Slot (held by the connection task, freed on drop) ─► hyper
//!                    └─► Refusal ─► refuse: 503 + Retry-After, close (bounded in number and time)
//! ```
use std::{net::IpAddr, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::{OwnedSemaphorePermit, Semaphore},
};

/// Seconds a refused client is told to wait (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 1;

/// How long writing a refusal and reading what the client still sends may take.
const REFUSE_DEADLINE: Duration = Duration::from_secs(1);

/// Refusals being written at once at most; past that a connection is just closed. Each holds
/// its accepted socket until it is done.
pub const MAX_REFUSING: usize = 256;

/// The connection limits of the HTTP front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections from one client address at most.
    pub max_per_client: usize,
    /// How long a response may make no progress (the client stopped reading) before its
    /// connection fails and frees its slot.
    pub send_timeout: Duration,
    /// How long a client may take to send a request's headers, from the connection's first
    /// byte or from the end of its last response (an idle keep-alive connection closes then).
    pub header_timeout: Duration,
}

/// The API listener's [`ConnectionLimits::header_timeout`].
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

impl From<&crate::config::HttpConfig> for ConnectionLimits {
    fn from(http: &crate::config::HttpConfig) -> Self {
        Self {
            max_connections: http.max_connections,
            max_per_client: http.max_connections_per_client,
            send_timeout: Duration::from_secs(http.send_timeout_secs),
            header_timeout: HEADER_TIMEOUT,
        }
    }
}

/// Why a connection is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every connection slot is taken.
    Full,
    /// This client address (or its site) holds its share of the slots.
    ClientFull,
}

impl Refusal {
    fn message(self) -> &'static str {
        match self {
            Self::Full => "the server is at its connection limit; retry later",
            Self::ClientFull => "too many connections from your address or network; retry later",
        }
    }
}

/// The connections one site (an IPv4 address, an IPv6 /48) may hold: a quarter of them all,
/// as the hashing queue's share, and at least what one client may hold.
pub fn site_share(limits: &ConnectionLimits) -> usize {
    (limits.max_connections / 4)
        .max(limits.max_per_client)
        .max(1)
}

/// Counts open connections, in all, per client address (an IPv6 /64) and per site.
#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    max_per_client: usize,
    per_client: crate::users::ClientShares<IpAddr>,
    max_per_site: usize,
    per_site: crate::users::ClientShares<IpAddr>,
    refusing: Arc<Semaphore>,
}

/// What one connection counts against: its client's network and site.
#[derive(Debug, Clone, Copy)]
struct ConnectionKeys {
    network: IpAddr,
    site: IpAddr,
}

/// One admitted connection; dropping it frees its slot.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    admission: Arc<Admission>,
    /// What it counts against (`None`: a trusted proxy's, counted in all only).
    keys: Option<ConnectionKeys>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(keys) = self.keys {
            self.admission.give_back(keys);
        }
    }
}

impl Admission {
    /// Counting under `limits` (each at least 1).
    pub fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            max_per_client: limits.max_per_client.max(1),
            per_client: crate::users::ClientShares::default(),
            max_per_site: site_share(&limits),
            per_site: crate::users::ClientShares::default(),
            refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
        })
    }

    /// A slot for a connection from `ip`, or why there is none.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        // An IPv6 client holds a /64: its share is the network's.
        let keys = ConnectionKeys {
            network: crate::users::client_network(ip),
            site: crate::users::client_site(ip),
        };
        if !self.per_client.take(&keys.network, self.max_per_client) {
            return Err(Refusal::ClientFull);
        }
        if !self.per_site.take(&keys.site, self.max_per_site) {
            self.per_client.give_back(&keys.network);
            return Err(Refusal::ClientFull);
        }
        let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
            self.give_back(keys);
            return Err(Refusal::Full);
        };
        Ok(Slot {
            _permit: permit,
            admission: Arc::clone(self),
            keys: Some(keys),
        })
    }

    fn give_back(&self, keys: ConnectionKeys) {
        self.per_client.give_back(&keys.network);
        self.per_site.give_back(&keys.site);
    }

    /// A slot for a connection from a trusted proxy (`http.trusted_proxies`), which carries
    /// many clients' requests: counted in all, not against a client's share.
    pub fn admit_proxy(self: &Arc<Self>) -> Result<Slot, Refusal> {
        let permit = Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| Refusal::Full)?;
        Ok(Slot {
            _permit: permit,
            admission: Arc::clone(self),
            keys: None,
        })
    }

    /// Answers `stream` with a 503 and `Retry-After`, then closes it, in a task of its own
    /// that ends within about two seconds. When too many refusals are under way already, the
    /// connection is closed without an answer.
    pub fn refuse(&self, stream: TcpStream, why: Refusal) {
        let Ok(permit) = Arc::clone(&self.refusing).try_acquire_owned() else {
            return;
        };
        tokio::spawn(async move {
            let _permit = permit;
            refuse(stream, why).await;
        });
    }
}

/// The whole 503 response for `why`.
pub fn refusal_response(why: Refusal) -> String {
    let body = super::reply::error_body("server_busy", why.message(), None).to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: {RETRY_AFTER_SECS}\r\nx-request-id: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len(),
        uuid::Uuid::new_v4(),
    )
}

/// Writes the refusal, closes the sending side, and reads what the client still sends for a
/// moment: closing with unread data would reset the connection and could lose the answer.
async fn refuse(mut stream: TcpStream, why: Refusal) {
    let answer = refusal_response(why);
    let written = tokio::time::timeout(REFUSE_DEADLINE, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        return;
    }
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(REFUSE_DEADLINE, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

#[cfg(test)]
mod tests;
