//! `usercenter healthcheck`: one `GET /health` against a running service, for container health
//! checks in images that have no shell and no curl (`HEALTHCHECK CMD ["/usercenter",
//! "healthcheck"]`). Exit status 0 when the answer is 200.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, Uri, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Longest body read from the health endpoint; its answer is a few dozen bytes.
const MAX_BODY: usize = 16 * 1024;

/// Why the check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    /// The URL is not `http://HOST:PORT/PATH`.
    #[error("bad URL {url}: {problem}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// No connection, no answer, or a broken one.
    #[error("{url}: {problem}")]
    Request {
        /// The URL.
        url: String,
        /// What went wrong.
        problem: String,
    },
    /// No answer in time.
    #[error("{url}: no answer within {timeout:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// The service answered, but not 200.
    #[error("{url}: HTTP {status}: {body}")]
    Unhealthy {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The body, on one line.
        body: String,
    },
}

/// The health URL of a service listening on `listen`: an unspecified address (`0.0.0.0`,
/// `[::]`) is reached on loopback.
pub fn url_for(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/health", SocketAddr::new(ip, listen.port()))
}

/// GETs `url` (plain `http://`), within `timeout`; the body of a 200 answer on success.
pub async fn check(url: &str, timeout: Duration) -> Result<String, HealthError> {
    match tokio::time::timeout(timeout, get(url)).await {
        Ok(result) => result,
        Err(_) => Err(HealthError::Timeout {
            url: url.to_owned(),
            timeout,
        }),
    }
}

async fn get(url: &str) -> Result<String, HealthError> {
    let bad_url = |problem: &str| HealthError::Url {
        url: url.to_owned(),
        problem: problem.to_owned(),
    };
    let failed = |problem: String| HealthError::Request {
        url: url.to_owned(),
        problem,
    };
    let uri: Uri = url.parse().map_err(|_| bad_url("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad_url("only http:// is supported"));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| bad_url("no HOST:PORT"))?
        .clone();
    let port = authority.port_u16().unwrap_or(80);
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| failed(format!("cannot connect: {e}")))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(e.to_string()))?;
    tokio::spawn(connection);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = Request::get(path)
        .header(header::HOST, authority.as_str())
        .header(header::USER_AGENT, "usercenter-healthcheck")
        .body(Empty::<Bytes>::new())
        .map_err(|e| failed(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| failed(format!("reading the body: {e}")))?
        .to_bytes();
    let body = String::from_utf8_lossy(&body).trim().replace('\n', " ");
    if status != hyper::StatusCode::OK {
        return Err(HealthError::Unhealthy {
            url: url.to_owned(),
            status: status.as_u16(),
            body,
        });
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
