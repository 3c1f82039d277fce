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
mod error;
mod reply;
pub mod requests;
mod routes;
mod state;

use std::{convert::Infallible, sync::Arc, time::Duration};

use hyper::{server::conn::http1, service::service_fn};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use admission::ConnectionLimits;
pub use routes::OPENAPI;
pub use state::AppState;

/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves HTTP on `listener` until `cancel` fires, then stops accepting and waits up to `drain`
/// for in-flight requests to finish. Connections past `limits` are answered 503 and closed.
///
/// # Cancellation
/// Dropping the future drops the listener; connections already spawned run on by themselves.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    cancel: CancellationToken,
    drain: Duration,
    limits: ConnectionLimits,
) {
    let graceful = GracefulShutdown::new();
    let admission = admission::Admission::new(limits);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = cancel.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Accepted at once, always: a full server answers 503 instead of leaving clients in
        // the listen backlog.
        let slot = match admission.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                debug!(%peer, ?why, "connection refused: 503");
                admission.refuse(stream, why);
                continue;
            }
        };
        let state = Arc::clone(&state);
        let service = service_fn(move |req| {
            let state = Arc::clone(&state);
            async move { Ok::<_, Infallible>(routes::handle(&state, peer, req).await) }
        });
        // A client gets 30 s to send its request headers (no slowloris).
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                debug!(%peer, %error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    info!("HTTP: stopped accepting, draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(drain) => warn!(?drain, "HTTP: drain deadline passed, closing connections"),
    }
}
