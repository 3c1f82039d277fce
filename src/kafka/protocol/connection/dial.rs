//! The TCP connection to a broker's `host:port`: every address the name resolves to, each in
//! turn with a share of the connect timeout, as Kafka clients do (`client.dns.lookup =
//! use_all_dns_ips`). A name with several addresses (a headless Service, a bootstrap name
//! over several brokers) is still reached while one of them drops SYNs: the system's own
//! connect would spend the whole timeout on the first address, the same one on every retry.
use std::{io, net::SocketAddr};

use tokio::{net::TcpStream, time::Instant};

/// Connects to one of `addr`'s addresses by `deadline`. Data the connection sends that the
/// broker has not acknowledged after `unacknowledged` ends it (`TCP_USER_TIMEOUT`): a broker
/// that stops reading (a zero window its kernel keeps answering probes for) would otherwise
/// hold a request's write, its buffer and the socket for ever after the request timed out.
pub(super) async fn dial(
    addr: &str,
    deadline: Instant,
    unacknowledged: std::time::Duration,
) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr).await?.collect();
    let stream = dial_each(&addrs, deadline).await?;
    socket2::SockRef::from(&stream).set_tcp_user_timeout(Some(unacknowledged))?;
    Ok(stream)
}

/// Tries `addrs` in order, each with an equal share of the time left (the last with all of
/// it); the first that connects, else the last failure.
pub(super) async fn dial_each(addrs: &[SocketAddr], deadline: Instant) -> io::Result<TcpStream> {
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        let tries_left = u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
        let share = left / tries_left;
        match tokio::time::timeout(share, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Some(e),
            Err(_) => {
                last = Some(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{addr}: no answer within {share:?}"),
                ));
            }
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "resolved to no address")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A loopback listener that drops every SYN: a backlog of 0, taken by one connection that
    /// is never accepted (Linux drops a SYN to a listener whose accept queue is full).
    async fn silent_listener() -> (tokio::net::TcpListener, TcpStream) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let queued = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        (listener, queued)
    }

    #[tokio::test]
    async fn an_address_that_drops_syns_leaves_time_for_the_next() {
        let (silent, _queued) = silent_listener().await;
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addrs = [silent.local_addr().unwrap(), live.local_addr().unwrap()];
        // The silent one really is silent: alone, it takes the whole budget.
        let alone = dial_each(&addrs[..1], Instant::now() + Duration::from_millis(300)).await;
        assert_eq!(alone.unwrap_err().kind(), io::ErrorKind::TimedOut);
        let started = Instant::now();
        let stream = dial_each(&addrs, started + Duration::from_secs(4)).await;
        assert_eq!(stream.unwrap().peer_addr().unwrap(), addrs[1]);
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[tokio::test]
    async fn a_connection_gives_up_on_data_unacknowledged_past_the_request_timeout() {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = live.local_addr().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(4);
        let stream = dial(&addr, deadline, Duration::from_secs(7)).await.unwrap();
        let set = socket2::SockRef::from(&stream).tcp_user_timeout().unwrap();
        assert_eq!(set, Some(Duration::from_secs(7)));
    }

    #[tokio::test]
    async fn a_refused_address_is_passed_at_once_and_the_last_error_said() {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let started = Instant::now();
        let deadline = started + Duration::from_secs(4);
        let stream = dial_each(&[refused, live.local_addr().unwrap()], deadline).await;
        assert_eq!(
            stream.unwrap().peer_addr().unwrap(),
            live.local_addr().unwrap()
        );
        // Not its share of the time (2 s): a refusal comes at once.
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let err = dial_each(&[refused], deadline).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let none = dial_each(&[], deadline).await.unwrap_err();
        assert_eq!(none.kind(), io::ErrorKind::NotFound);
    }
}
