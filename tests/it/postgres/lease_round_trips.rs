//! A relay lease renewal whose packets go unanswered (src/pgstore/lease.rs): a failover that
//! drops packets, or a link that went dark. Without a limit the check waited until TCP gave up
//! (about 15 minutes), holding the lease's session, and its holder never learned that it lost
//! the lease nor took it back. With [`ROUND_TRIP_LIMIT`] the check fails, the session is
//! dropped, and once the database answers again a new session takes the lease back at once:
//! the row names one of this process's own sessions, so there is nobody else's term to wait
//! out. A take (not a renewal) whose answer is lost is another matter: it may have taken the
//! lease from another process still relaying, and the row it left is waited out.
//!
//! Between the store and PostgreSQL runs a proxy that can stop forwarding in both directions
//! while keeping every connection open (its own kernel acknowledges what the store sends, so
//! this checks the lease's own limit, not TCP's).

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::watch,
};

use super::blocking;

use testkit::postgres::Postgres;
use usercenter::{
    pgstore::{
        PgStore,
        lease::{RENEWED_FOR, ROUND_TRIP_LIMIT, TERM},
    },
    store::Store,
};

/// A TCP proxy to one upstream that forwards nothing while it is stopped, and no answers
/// while they are held.
struct StoppingProxy {
    addr: SocketAddr,
    stopped: watch::Sender<bool>,
    answers_held: watch::Sender<bool>,
}

impl StoppingProxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stopped, watching) = watch::channel(false);
        let (answers_held, held) = watch::channel(false);
        let never = watch::channel(false).1;
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let requests = [watching.clone(), never.clone()];
                tokio::spawn(pump(client_read, server_write, requests));
                tokio::spawn(pump(
                    server_read,
                    client_write,
                    [watching.clone(), held.clone()],
                ));
            }
        });
        Self {
            addr,
            stopped,
            answers_held,
        }
    }

    /// Requests still reach the server; its answers wait.
    fn hold_answers(&self) {
        self.answers_held.send_replace(true);
    }

    fn stop(&self) {
        self.stopped.send_replace(true);
    }

    fn go_on(&self) {
        self.stopped.send_replace(false);
        self.answers_held.send_replace(false);
    }
}

/// Copies `from` to `to`, holding what it read while any of `holds` is set.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut holds: [watch::Receiver<bool>; 2],
) {
    let mut buf = vec![0; 64 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for hold in &mut holds {
            if hold.wait_for(|held| !*held).await.is_err() {
                return;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
    let _ = to.shutdown().await;
}

/// The address in a URL of [`Postgres::database`] (`postgres://user@host:port/db?...`).
fn server_addr(url: &str) -> SocketAddr {
    let after_at = &url[url.find('@').unwrap() + 1..];
    after_at[..after_at.find('/').unwrap()].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_renewal_fails_within_its_limit_and_the_lease_comes_back_when_healed() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let upstream = server_addr(&url);
    let proxy = StoppingProxy::start(upstream).await;
    let via = url.replacen(&upstream.to_string(), &proxy.addr.to_string(), 1);
    let store = Arc::new(PgStore::connect(&via, 1).await.unwrap());
    let lease = |store: &Arc<PgStore>| {
        let store = Arc::clone(store);
        blocking(move || store.relay_lease())
    };
    let held = lease(&store)
        .await
        .unwrap()
        .expect("the only instance holds it");

    proxy.stop();
    // Past what the last renewal answers for: the next check asks the database.
    tokio::time::sleep(RENEWED_FOR).await;
    let asked = Instant::now();
    let unanswered = tokio::time::timeout(TERM, lease(&store)).await;
    let took = asked.elapsed();
    assert!(
        matches!(unanswered, Ok(Err(_))),
        "a renewal without an answer must fail within its limit, not hang: {unanswered:?}"
    );
    assert!(
        took >= ROUND_TRIP_LIMIT && took < ROUND_TRIP_LIMIT + Duration::from_secs(2),
        "failed after {took:?}"
    );

    proxy.go_on();
    let healed = Instant::now();
    let back = loop {
        // Connecting again may fail once more while the old session is still being closed.
        if let Ok(Some(lease)) = lease(&store).await {
            break lease;
        }
        assert!(healed.elapsed() < TERM, "the lease did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "a renewal without an answer failed after {took:?}; the lease came back {:?} after the heal",
        healed.elapsed()
    );
    assert!(
        back.epoch > held.epoch,
        "a new session holds it with a new epoch"
    );
    assert!(
        healed.elapsed() < TERM / 2,
        "this process's own former session is not waited out"
    );
}

/// A take whose answer never came may have committed, taking the lease from another process
/// whose session the database ended while it relays on by its own clock. The taker's next
/// session finds the row under its abandoned session's name: it waits out what that take
/// would have waited for, rather than counting the row as its own and relaying at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_answered_too_late_is_waited_out_as_another_processs() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let lease = |store: &Arc<PgStore>| {
        let store = Arc::clone(store);
        blocking(move || store.relay_lease())
    };
    let db = testkit::pg_serve::sql(&url).await;
    let a = Arc::new(PgStore::connect(&url, 1).await.unwrap());
    lease(&a)
        .await
        .unwrap()
        .expect("the first instance holds it");
    let a_holder = holder(&db).await;
    // b's lease session, through the proxy, finds the lease held by a.
    let upstream = server_addr(&url);
    let proxy = StoppingProxy::start(upstream).await;
    let via = url.replacen(&upstream.to_string(), &proxy.addr.to_string(), 1);
    let b = Arc::new(PgStore::connect(&via, 1).await.unwrap());
    assert!(lease(&b).await.unwrap().is_none(), "a holds it");

    // The database ends a's lease session; a relays on until its term's end by its clock.
    db.execute(
        "SELECT pg_terminate_backend(backend_pid) FROM relay_lease",
        &[],
    )
    .await
    .unwrap();
    let ended = Instant::now();
    // Until its backend has left pg_stat_activity, the lease is not free.
    let gone =
        "SELECT count(*) FROM pg_stat_activity a JOIN relay_lease l ON a.pid = l.backend_pid";
    while db.query_one(gone, &[]).await.unwrap().get::<_, i64>(0) > 0 {
        assert!(ended.elapsed() < TERM, "a's backend never left");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // b's take reaches the database and commits; its answer does not come back in time.
    proxy.hold_answers();
    let unanswered = lease(&b).await;
    assert!(unanswered.is_err(), "{unanswered:?}");
    assert_ne!(holder(&db).await, a_holder, "the unanswered take committed");
    proxy.go_on();

    let mut handed = None;
    while ended.elapsed() < TERM + Duration::from_secs(10) {
        if let Ok(Some(_)) = lease(&b).await {
            handed = Some(ended.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let handed = handed.expect("the lease was never handed to b's relay");
    println!("a take answered too late: b relays {handed:?} after a's session ended");
    assert!(
        handed >= TERM - Duration::from_millis(500),
        "b relayed {handed:?} after a's session ended, inside a's term ({TERM:?})"
    );
}

/// The relay lease's holder now.
async fn holder(db: &tokio_postgres::Client) -> uuid::Uuid {
    let row = db.query_one("SELECT holder FROM relay_lease", &[]).await;
    row.unwrap().get(0)
}
