//! The hyper HTTP front: accept loop with graceful shutdown, and the routes.
//!
//! ```text
//! TcpListener ─accept─► admission: slot ─► http1 connection (watched by GracefulShutdown) ─► routes::handle
//!      ▲ stop on cancel  │ full (in all or for this address): 503 + Retry-After, close
//!                        drain in-flight requests until the deadline
//! routes::handle: operational endpoint │ api::Endpoint ─► body read once (limit, deadline)
//!                 ─► handler(ApiCall) ─► Ok(response) │ Err(ApiError) ─► into_response
//! ```
mod admission;
mod api;
mod body;
mod client_address;
mod error;
mod outbox_gauges;
mod reply;
pub mod requests;
mod routes;
mod send_timeout;
mod state;

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use hyper::{server::conn::http1, service::service_fn};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::logging::{FailureStreak, say_failure, say_recovery};

pub use admission::{ConnectionLimits, MAX_REFUSING};
pub use body::json as json_body;
pub use client_address::TrustedProxies;
pub use error::ApiError;
pub use outbox_gauges::OutboxReading;
pub use routes::{OPENAPI, Serves};
pub use state::AppState;

/// The most a connection buffers of a request's headers (hyper's default is about 400 KiB):
/// past it the request is answered 431 and the connection closed, so that the connection cap's
/// worth of clients holding unfinished headers holds 32 MiB, not 400. As much as nginx allows a
/// request's header lines by default (4 buffers of 8 KiB).
const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Serves HTTP on `listener` until `cancel` fires, then stops accepting and waits up to `drain`
/// for in-flight requests to finish. Connections past `limits` are answered 503 and closed.
///
/// # Cancellation
/// Dropping the future drops the listener; connections already spawned run on by themselves.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    serves: Serves,
    cancel: CancellationToken,
    drain: Duration,
    limits: ConnectionLimits,
) {
    let front = Listener {
        listener,
        state,
        serves,
        admission: admission::Admission::new(limits),
        send_timeout: limits.send_timeout,
        header_timeout: limits.header_timeout,
        graceful: GracefulShutdown::new(),
        close: CancellationToken::new(),
    };
    // Accepts failed in a row (out of file descriptors), said rate-limited.
    let mut failing = FailureStreak::default();
    loop {
        let accepted = tokio::select! {
            accepted = front.listener.accept() => accepted,
            () = cancel.cancelled() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                say_recovery!(failing, "accepting connections again");
                front.admit(stream, peer);
            }
            Err(error) => {
                say_failure!(failing, %error, "accept failed");
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    front.drain(drain).await;
}

/// The accept side of the HTTP front: the listener, and what each connection it accepts is
/// served with.
struct Listener {
    /// Where connections arrive.
    listener: TcpListener,
    /// What every request handler sees.
    state: Arc<AppState>,
    /// Which endpoints it serves.
    serves: Serves,
    /// The connection slots, in all and per client address.
    admission: Arc<admission::Admission>,
    /// How long a response may make no progress before its connection fails.
    send_timeout: Duration,
    /// [`ConnectionLimits::header_timeout`].
    header_timeout: Duration,
    /// Watches every connection, for the drain at shutdown.
    graceful: GracefulShutdown,
    /// Closes the connections still open when the drain's time is over.
    close: CancellationToken,
}

impl Listener {
    /// Serves `stream` from `peer` on a connection task if a slot is free; else answers 503.
    /// Accepted at once, always: a full server answers 503 instead of leaving clients in the
    /// listen backlog.
    fn admit(&self, stream: TcpStream, peer: SocketAddr) {
        // A trusted proxy carries many clients to the API: it holds no client's share of the
        // API's slots. The operational endpoints serve no client through a proxy.
        let proxied = self.serves != Serves::Operations;
        let admitted = if proxied && self.state.trusted_proxies.contains(peer.ip()) {
            self.admission.admit_proxy()
        } else {
            self.admission.admit(peer.ip())
        };
        let slot = match admitted {
            Ok(slot) => slot,
            Err(why) => {
                debug!(%peer, ?why, "connection refused: 503");
                self.admission.refuse(stream, why);
                return;
            }
        };
        let (state, serves) = (Arc::clone(&self.state), self.serves);
        let service = service_fn(move |req| {
            let state = Arc::clone(&state);
            async move { Ok::<_, Infallible>(routes::handle(&state, serves, peer, req).await) }
        });
        // A client gets the header timeout (30 s on the API's port) to send its request
        // headers, at most 32 KiB of them (no slowloris), and a response that it stops
        // reading fails the connection after the send timeout.
        let stream = send_timeout::SendTimeout::new(stream, self.send_timeout);
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .max_buf_size(MAX_HEADER_BYTES)
            .serve_connection(TokioIo::new(stream), service);
        let conn = self.graceful.watch(conn);
        let close = self.close.clone();
        tokio::spawn(async move {
            tokio::select! {
                ended = conn => if let Err(error) = ended {
                    debug!(%peer, %error, "connection ended with an error");
                },
                // Dropped: the connection closes, a request in flight unanswered.
                () = close.cancelled() => debug!(%peer, "connection closed at the drain's end"),
            }
            drop(slot);
        });
    }

    /// Stops accepting and waits up to `drain` for the requests in flight.
    async fn drain(self, drain: Duration) {
        drop(self.listener);
        info!("HTTP: stopped accepting, draining in-flight requests");
        tokio::select! {
            () = self.graceful.shutdown() => {}
            () = tokio::time::sleep(drain) => {
                warn!(?drain, "HTTP: drain deadline passed, closing connections");
                self.close.cancel();
            }
        }
    }
}
