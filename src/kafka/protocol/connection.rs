//! One connection of our own to one broker, on rskafka's messenger.
//!
//! rskafka's connection module is private, so we open the socket ourselves: TCP, or TLS through
//! tokio-rustls with the same rustls `ClientConfig` (CA file or compiled-in roots, client
//! certificate) from [`crate::kafka::security`]. Then, as rskafka
//! does for its own connections: `Messenger::new` over a buffered stream, `sync_versions`
//! (ApiVersions), and `do_sasl` when SASL is configured, with rskafka's SASL mechanisms. The
//! stream under the messenger ([`watched`]) notes when the broker hangs up ([`hang_up`]), so that
//! the pool replaces such a connection before a request is made on it, and fails the connection
//! when an answer comes out of its request's order ([`answer_order`]). [`dial`] opens the TCP
//! connection at each address the broker's name resolves to in turn.
use std::{fmt, sync::Arc, time::Duration};

use rskafka::{
    client::SaslConfig,
    messenger::{Messenger, SaslError, SyncVersionsError},
};
use rustls::{ClientConfig, pki_types::ServerName};
use tokio::io::{AsyncRead, AsyncWrite, BufStream};

use self::{hang_up::HangUp, watched::Watched};
use super::{
    adapter::{Adapted, Answer, Call, CallError},
    throttle::{Before, Throttle},
};

mod answer_order;
mod dial;
mod hang_up;
mod watched;

/// Public for the fuzz target that checks it (`fuzz/fuzz_targets/answer_order.rs`).
pub use answer_order::AnswerOrder;

/// rskafka's own default for the largest response frame it accepts.
const MAX_MESSAGE_SIZE: usize = 100 * 1024 * 1024;

/// The byte stream under a messenger: plain TCP or TLS.
trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

type Stream = BufStream<Box<dyn Io>>;

/// How to open connections: TLS and SASL from `[kafka]`, the client id, and timeouts.
#[derive(Clone)]
pub struct ConnectSettings {
    /// `client.id` in every request header.
    pub client_id: Arc<str>,
    /// TLS, when the security protocol has it.
    pub tls: Option<Arc<ClientConfig>>,
    /// SASL, when the security protocol has it.
    pub sasl: Option<SaslConfig>,
    /// The limit for TCP connect, TLS handshake, ApiVersions and SASL together.
    pub connect_timeout: Duration,
    /// The limit for one request's answer.
    pub request_timeout: Duration,
}

impl fmt::Debug for ConnectSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No credentials in logs: only whether TLS and SASL are on.
        f.debug_struct("ConnectSettings")
            .field("client_id", &self.client_id)
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The address is not `host:port`, or the host is not a valid TLS server name.
    #[error("bad broker address {addr:?}: {reason}")]
    Address {
        /// The address.
        addr: String,
        /// What is wrong.
        reason: String,
    },
    /// TCP connect or the TLS handshake failed.
    #[error("cannot connect to {addr}")]
    Io {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The ApiVersions exchange failed.
    #[error("ApiVersions with {addr} failed")]
    Versions {
        /// The address.
        addr: String,
        /// rskafka's error.
        #[source]
        source: SyncVersionsError,
    },
    /// SASL authentication failed.
    #[error("SASL authentication with {addr} failed")]
    Sasl {
        /// The address.
        addr: String,
        /// rskafka's error.
        #[source]
        source: SaslError,
    },
    /// Connecting took longer than the connect timeout.
    #[error("connecting to {addr} timed out after {after:?}")]
    Timeout {
        /// The address.
        addr: String,
        /// The timeout.
        after: Duration,
    },
}

/// An open, version-negotiated (and authenticated) connection to one broker. Requests from
/// several tasks are pipelined; answers come back matched by correlation id.
pub struct Connection {
    addr: String,
    messenger: Messenger<Stream>,
    request_timeout: Duration,
    /// Until when the broker's quota mutes the connection (KIP-219).
    throttle: Throttle,
    /// Set when the broker has hung up (or the stream failed).
    hang_up: HangUp,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to `addr` (`host:port`, as in metadata or the bootstrap list). Only
    /// [`crate::kafka::Client::connection`] calls it: the process's connections live there.
    pub(in crate::kafka) async fn connect(
        addr: &str,
        settings: &ConnectSettings,
    ) -> Result<Self, ConnectError> {
        let after = settings.connect_timeout;
        tokio::time::timeout(after, Self::open(addr, settings))
            .await
            .map_err(|_| ConnectError::Timeout {
                addr: addr.to_owned(),
                after,
            })?
    }

    async fn open(addr: &str, settings: &ConnectSettings) -> Result<Self, ConnectError> {
        let io = |source| ConnectError::Io {
            addr: addr.to_owned(),
            source,
        };
        let deadline = tokio::time::Instant::now() + settings.connect_timeout;
        let tcp = dial::dial(addr, deadline, settings.request_timeout)
            .await
            .map_err(io)?;
        tcp.set_nodelay(true).map_err(io)?;
        let stream: Box<dyn Io> = match &settings.tls {
            None => Box::new(tcp),
            Some(tls) => {
                let name = server_name(addr)?;
                let connector = tokio_rustls::TlsConnector::from(Arc::clone(tls));
                Box::new(connector.connect(name, tcp).await.map_err(io)?)
            }
        };
        let hang_up = HangUp::default();
        let stream: Box<dyn Io> = Box::new(Watched::new(stream, hang_up.clone()));
        let mut messenger = Messenger::new(
            BufStream::new(stream),
            MAX_MESSAGE_SIZE,
            Arc::clone(&settings.client_id),
        );
        messenger
            .sync_versions()
            .await
            .map_err(|source| ConnectError::Versions {
                addr: addr.to_owned(),
                source,
            })?;
        if let Some(sasl) = &settings.sasl {
            messenger
                .do_sasl(sasl.clone())
                .await
                .map_err(|source| ConnectError::Sasl {
                    addr: addr.to_owned(),
                    source,
                })?;
        }
        Ok(Self {
            addr: addr.to_owned(),
            messenger,
            request_timeout: settings.request_timeout,
            throttle: Throttle::new(settings.request_timeout),
            hang_up,
        })
    }

    /// The broker address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether the broker has hung up (an idle connection past its `connections.max.idle.ms`,
    /// a restart) or the stream failed: every request on it would fail unwritten, so whoever
    /// keeps it asks the pool for another.
    pub fn is_closed(&self) -> bool {
        self.hang_up.happened()
    }

    /// How long a request's answer may take ([`ConnectSettings::request_timeout`]).
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// When the broker's throttle of this connection ends, while it lasts: a request made
    /// before then is written then ([`Connection::call_within`]).
    pub fn throttled_until(&self) -> Option<tokio::time::Instant> {
        self.throttle.until()
    }

    /// Sends `call` at the highest version both sides support and decodes the answer. While
    /// the broker throttles the connection (a quota, [`super::throttle`]), waits first.
    ///
    /// # Cancellation
    /// Dropping the future before the request is written leaves the connection usable; dropping
    /// it later leaves the answer to be discarded when it arrives.
    pub async fn call<C: Call>(&self, call: &C) -> Result<Answer<C::Response>, CallError> {
        self.call_within(call, self.request_timeout).await
    }

    /// [`Connection::call`] with its own timeout instead of the connection's, for a request
    /// whose answer has a known bound (a Fetch is answered within its `max_wait_ms`). While the
    /// broker throttles the connection it waits first; the timeout starts once the request is
    /// written.
    pub async fn call_within<C: Call>(
        &self,
        call: &C,
        timeout: Duration,
    ) -> Result<Answer<C::Response>, CallError> {
        if let Some(until) = self.throttle.until() {
            tokio::time::sleep_until(until).await;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        self.send(call, deadline, timeout).await
    }

    /// [`Connection::call_within`] for a request bound in time whatever the broker does (a
    /// Produce of the lane, whose callers give up at `timeout`, and which must not be written
    /// after `write_by`, the relay lease's end): one that the broker's throttle would hold past
    /// either is not written, and fails with [`CallError::Throttled`] then, the connection
    /// kept.
    pub async fn call_written_by<C: Call>(
        &self,
        call: &C,
        timeout: Duration,
        write_by: Option<tokio::time::Instant>,
    ) -> Result<Answer<C::Response>, CallError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let bound = write_by.map_or(deadline, |w| w.min(deadline));
        match self.throttle.before(bound) {
            Before::Send => {}
            Before::WaitUntil(until) => tokio::time::sleep_until(until).await,
            Before::GiveUpAt(bound) => {
                tokio::time::sleep_until(bound).await;
                return Err(CallError::Throttled { api: C::KEY });
            }
        }
        self.send(call, deadline, timeout).await
    }

    /// Writes `call` now and waits for its answer until `deadline` (`timeout` after it was
    /// asked for, for the error).
    async fn send<C: Call>(
        &self,
        call: &C,
        deadline: tokio::time::Instant,
        timeout: Duration,
    ) -> Result<Answer<C::Response>, CallError> {
        let key = rskafka::protocol::primitives::Int16::from(C::KEY).0;
        super::requests_sent::count(key);
        let request = self.messenger.request(Adapted(call));
        match tokio::time::timeout_at(deadline, request).await {
            Ok(Ok(answer)) => {
                let ms = C::throttle_ms(&answer.body);
                let from = C::CLIENT_THROTTLES_FROM;
                self.throttle.note(key, answer.version, from, ms);
                Ok(answer)
            }
            Ok(Err(e)) => {
                Err(self.given_up_if_lost(CallError::from_request(C::KEY, C::VERSIONS, e)))
            }
            Err(_) => Err(self.given_up_if_lost(CallError::Timeout {
                api: C::KEY,
                after: timeout,
            })),
        }
    }

    /// Marks the connection closed when `error` says it is lost: a request that got no answer
    /// in time (a silent or half-open broker, which sends neither an end of stream nor a
    /// reset), or a stream the messenger gave up. The pool forgets it too, but others who
    /// hold it (a producer's partitions on that broker) look at [`Connection::is_closed`]
    /// before their next request, which would otherwise wait a whole timeout on it.
    fn given_up_if_lost(&self, error: CallError) -> CallError {
        if error.is_connection_lost() {
            self.hang_up.give_up();
        }
        error
    }
}

/// The TLS server name of `addr`: its host, without port or IPv6 brackets.
fn server_name(addr: &str) -> Result<ServerName<'static>, ConnectError> {
    let bad = |reason: &str| ConnectError::Address {
        addr: addr.to_owned(),
        reason: reason.to_owned(),
    };
    let (host, _port) = addr.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|_| bad("not a valid TLS server name"))
}

#[cfg(test)]
mod tests;
