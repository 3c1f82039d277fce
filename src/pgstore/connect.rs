//! How every connection of ours to PostgreSQL is made (the pool's, the lease's, a
//! migration's): the URL's settings with our session and TCP limits, and TLS through rustls.
use std::{path::Path, sync::Arc, time::Duration};

use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::{Result, StoreError};

/// The connection settings of `url` ([`parse`]) and its TLS ([`tls`], trusting `ca_file`'s
/// CAs when given). A CA file makes TLS required: `sslmode=prefer`, the default, would go on
/// in plain text with a server (or a machine in the middle) that declines TLS. With
/// `sslmode=disable` it does nothing, which is said.
pub(super) fn settings(
    url: &str,
    ca_file: Option<&Path>,
) -> Result<(tokio_postgres::Config, MakeRustlsConnect)> {
    let mut config = parse(url)?;
    match (ca_file.is_some(), config.get_ssl_mode()) {
        // Refused by the configuration's check (`store.tls_ca_file`); said, for any other caller.
        (true, SslMode::Disable) => tracing::warn!(
            "store.tls_ca_file is set, but the URL says sslmode=disable: the connection is not encrypted"
        ),
        (true, SslMode::Prefer) => {
            config.ssl_mode(SslMode::Require);
        }
        (false, SslMode::Prefer) if off_this_host(&config) => tracing::warn!(
            "store.url names no sslmode (or prefer): with a server, or a machine in the middle, that declines TLS the connection goes on in plain text, the password included; set sslmode=require (the server's certificate is checked) or store.tls_ca_file"
        ),
        _ => {}
    }
    Ok((config, tls(ca_file)?))
}

/// Whether `config` names a host off this machine: not a socket directory, not loopback.
fn off_this_host(config: &tokio_postgres::Config) -> bool {
    config.get_hosts().iter().any(|h| match h {
        tokio_postgres::config::Host::Tcp(name) => {
            name != "localhost"
                && !name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(_) => false,
    })
}

/// TLS through rustls on ring with Mozilla's roots, or with the CA certificates of `ca_file`
/// alone (`store.tls_ca_file`: a private CA, a cloud provider's). `sslmode` in the URL says
/// whether TLS is required; the default `prefer` falls back to plain text when the server has
/// no TLS, unless a CA file is given ([`settings`]). A server that offers TLS has its
/// certificate checked whatever the mode.
pub(super) fn tls(ca_file: Option<&Path>) -> Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = crate::kafka::security::roots("store.tls_ca_file", ca_file)
        .map_err(|e| StoreError::TlsCaFile(e.to_string()))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(StoreError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// How long a session may sit inside a transaction between statements before the server ends
/// it, locks and all (`idle_in_transaction_session_timeout`, ms). Our transactions run their
/// statements back to back in milliseconds; one idle this long belongs to an instance that was
/// cut off or frozen mid-transaction, and would otherwise hold its locks (the row locks of what
/// it wrote; between drawing its outbox numbers and its commit, the outbox lock, and with it
/// every instance's outbox writes) until TCP gives up (hours with the defaults).
const IDLE_IN_TRANSACTION_MS: u32 = 5_000;

/// How long the pool waits for a connection, to open one, or to check one before reuse: a
/// database that does not answer fails the store call instead of hanging it.
pub(super) const POOL_WAIT: Duration = Duration::from_secs(10);

/// How long data we sent may stay unacknowledged by the server's host before the kernel
/// closes the connection (`TCP_USER_TIMEOUT`, Linux only; Unix sockets ignore it). Keepalives
/// probe only a connection with nothing in flight: once a request is sent and not
/// acknowledged (the database's host failed over, a link drops packets), the kernel
/// retransmits it instead, for about 15 minutes with the default `net.ipv4.tcp_retries2`, and
/// the request waits that long for its answer, holding a pooled connection and a blocking
/// thread (for the relay lease, [`super::lease::ROUND_TRIP_LIMIT`] gives up sooner). With this the
/// request fails after about 30 s and its connection closes; the next request opens another.
/// It also decides when unanswered keepalive probes close an idle connection: Linux gives up
/// at the first probe past it, about 30 s with the probes below. It limits TCP's
/// acknowledgements, not the server's answers: a statement that runs or waits for a lock
/// longer is not cut by it, since the server's host acknowledges what it received.
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// The connection settings of `url`, with the session limits every connection of ours (the
/// pool's, the lease's, a migration's) gets: [`IDLE_IN_TRANSACTION_MS`], TCP keepalives (an
/// idle connection to a dead server is noticed within about 30 s), [`TCP_USER_TIMEOUT`] on
/// both ends (a request unacknowledged for 30 s fails; the server closes a connection whose
/// client reads nothing for 30 s) and a connect timeout. Options already in the URL are kept,
/// and so is a `tcp_user_timeout` it sets, on both ends.
pub(super) fn parse(url: &str) -> Result<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config = url.parse().map_err(StoreError::Postgres)?;
    let user_timeout = *config.get_tcp_user_timeout().unwrap_or(&TCP_USER_TIMEOUT);
    // The server's side of the connection gets the same timeout: a client that stops reading
    // (an instance frozen by SIGSTOP or `docker pause`, whose kernel still acknowledges with
    // a zero window) has its connection closed by the server after it, rather than pinning
    // its backend for ever, and with the lease session's LISTEN the notification queue that
    // every outbox write adds to (full, it fails every such write on every instance).
    let options = format!(
        "{} -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS} -c tcp_user_timeout={}",
        config.get_options().unwrap_or_default(),
        user_timeout.as_millis()
    );
    config.tcp_user_timeout(user_timeout);
    config
        .options(options.trim_start())
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(6)
        .connect_timeout(POOL_WAIT);
    Ok(config)
}
