//! A Kafka-frame-aware TCP proxy that injects faults between clients and a broker.
//!
//! Why: retries, idempotence and consumer rebalances only show their worth when responses go
//! missing, arrive late or connections break mid-request. The proxy reads whole Kafka frames
//! (4-byte big-endian length + body) in both directions, remembers per connection the api key
//! of each request (responses come back in request order on a connection) and, when the
//! [`Faults`] settings say so, drops a response (closes the client connection after the
//! request reached the broker), delays it, corrupts it (flips a byte after the correlation id),
//! cuts the connection halfway through a request, swallows a request (it never reaches the
//! broker; the connection stays open), or answers nothing at all (a black hole: the connection
//! stays open, requests vanish). Faults can be limited to one api key and to one client id;
//! [`Faults::hang_up`] closes every connection open now. It can also damage given bytes in
//! every response that holds them, as a log damaged at rest would ([`Faults::damage`]).
//! Settings are atomics behind an `Arc`, switchable while traffic flows; every fault injected
//! is counted so a test can assert that faults really happened.
//!
//! Use it through [`broker_behind`], or with `Broker::behind_proxy(listen, proxy.addr(), ..)`: the broker advertises the
//! proxy, so bootstrap and leader connections all go through it.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// The Produce api key.
pub const PRODUCE: i32 = 0;

/// Fault settings (probabilities in parts per million) and counters, shared with the proxy.
#[derive(Debug, Default)]
pub struct Faults {
    /// Faults apply only when this is set.
    pub enabled: AtomicBool,
    /// Only requests (and their responses) with this api key are faulted; -1 = every api key.
    pub api_key: AtomicI32,
    /// The first this-many requests of a connection are never faulted (ApiVersions, Metadata).
    pub skip_frames: AtomicU32,
    /// Probability of dropping a response: the client connection is closed instead.
    pub drop_response_ppm: AtomicU32,
    /// Probability of delaying a response by `delay_ms`.
    pub delay_response_ppm: AtomicU32,
    /// How long a delayed response waits.
    pub delay_ms: AtomicU64,
    /// Probability of forwarding half a request and closing both connections.
    pub cut_request_ppm: AtomicU32,
    /// Probability of flipping one byte of a response's body after its correlation id.
    pub corrupt_response_ppm: AtomicU32,
    /// Probability of adding one to a response's correlation id: a damaged id that names the
    /// next request waiting on the connection, when there is one.
    pub misnumber_response_ppm: AtomicU32,
    /// Probability of swallowing a request: read and never forwarded, the connection left
    /// open (a request whose answer never comes). A broker answers a connection's requests in
    /// order, so nothing after it on that connection is answered either: every later request
    /// of the connection is swallowed too.
    pub swallow_request_ppm: AtomicU32,
    /// Only the requests (and their responses) whose header names this client id are
    /// faulted; every client's when unset.
    pub client_id: Mutex<Option<String>>,
    /// While set, every connection is a black hole: requests are read and dropped, responses
    /// are dropped, nothing is closed (a broker that accepts and never answers). Applies to
    /// every api key, whatever `enabled` says.
    pub black_hole: AtomicBool,
    /// While set, every response that holds these bytes has a bit of their first occurrence
    /// flipped, whatever `enabled` says: a log damaged at rest, each fetch of the batch
    /// carrying the same damage (the bytes should be distinctive, say part of a value).
    pub damage: Mutex<Option<Vec<u8>>>,
    /// Responses corrupted (or misnumbered) so far, by chance or by `damage`.
    pub corrupted: AtomicU64,
    /// Frames swallowed so far, by the black hole or [`Faults::swallow_request_ppm`].
    pub swallowed: AtomicU64,
    /// Responses dropped so far.
    pub dropped: AtomicU64,
    /// Responses delayed so far.
    pub delayed: AtomicU64,
    /// Requests cut so far.
    pub cut: AtomicU64,
    /// Connections accepted so far.
    pub connections: AtomicU64,
    /// Wakes every connection open now to close both its sides ([`Faults::hang_up`]).
    hang_up: tokio::sync::Notify,
}

impl Faults {
    /// Closes every connection open now, both sides, at once: as a broker hangs up a
    /// connection idle past its `connections.max.idle.ms`. Connections opened later are kept.
    pub fn hang_up(&self) {
        self.hang_up.notify_waiters();
    }

    /// Settings that fault produce traffic only, after the first 2 frames of a connection,
    /// switched off until [`Faults::enabled`] is set.
    pub fn produce_only() -> Arc<Self> {
        let faults = Self::default();
        faults.api_key.store(PRODUCE, Relaxed);
        faults.skip_frames.store(2, Relaxed);
        Arc::new(faults)
    }

    /// `(dropped, delayed, cut)` so far.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.dropped.load(Relaxed),
            self.delayed.load(Relaxed),
            self.cut.load(Relaxed),
        )
    }

    /// Whether the faults apply to request `index` of a connection, of `api_key`.
    fn applies(&self, index: u64, api_key: i16) -> bool {
        let wanted = self.api_key.load(Relaxed);
        self.enabled.load(Relaxed)
            && index >= u64::from(self.skip_frames.load(Relaxed))
            && (wanted < 0 || wanted == i32::from(api_key))
    }

    /// Whether the faults apply to the requests of `client` (the client id in a header).
    fn applies_to_client(&self, client: Option<&[u8]>) -> bool {
        let wanted = self.client_id.lock().expect("client id");
        wanted
            .as_deref()
            .is_none_or(|wanted| client == Some(wanted.as_bytes()))
    }

    /// Flips the lowest bit of the last byte of the first occurrence of [`Faults::damage`] in
    /// `response`; whether it did.
    fn damage_at_rest(&self, response: &mut [u8]) -> bool {
        let damage = self.damage.lock().expect("damage");
        let Some(pattern) = damage.as_deref().filter(|p| !p.is_empty()) else {
            return false;
        };
        let Some(at) = response.windows(pattern.len()).position(|w| w == pattern) else {
            return false;
        };
        response[at + pattern.len() - 1] ^= 1;
        true
    }
}

/// A small deterministic xorshift64* generator (no extra crates).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (0 is replaced: xorshift never leaves the zero state).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `ppm` parts per million.
    pub fn chance(&mut self, ppm: &AtomicU32) -> bool {
        let ppm = u64::from(ppm.load(Relaxed));
        ppm > 0 && self.next_u64() % 1_000_000 < ppm
    }
}

/// A running proxy; its accept loop stops when this is dropped.
pub struct Proxy {
    addr: String,
    /// The fault settings and counters.
    pub faults: Arc<Faults>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    /// Connection `n` draws its faults from `XorShift::new(seed + n)`.
    pub async fn start(upstream: String, faults: Arc<Faults>, seed: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let addr = listener.local_addr().expect("proxy address").to_string();
        let shared = Arc::clone(&faults);
        let task = tokio::spawn(async move {
            let mut n = 0u64;
            while let Ok((client, _)) = listener.accept().await {
                n += 1;
                shared.connections.fetch_add(1, Relaxed);
                let rng = XorShift::new(seed.wrapping_add(n.wrapping_mul(0x1000_0001)));
                let faults = Arc::clone(&shared);
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Ok(broker) = TcpStream::connect(&upstream).await {
                        connection(client, broker, faults, rng).await;
                    }
                });
            }
        });
        Self { addr, faults, task }
    }

    /// `127.0.0.1:PORT` where clients connect.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A broker on a free loopback port behind a new proxy with `faults` (connection `n` drawing
/// from `XorShift::new(seed + n)`): the broker advertises the proxy, so bootstrap and leader
/// connections all go through it.
pub async fn broker_behind(faults: Arc<Faults>, seed: u64) -> (crate::Broker, Proxy) {
    let origin = format!("127.0.0.1:{}", crate::free_port());
    let proxy = Proxy::start(origin.clone(), faults, seed).await;
    let broker = crate::Broker::behind_proxy(&origin, proxy.addr(), Default::default()).await;
    (broker, proxy)
}

/// [`broker_behind`] with a `sqlite://` broker in `file`. Its engine checks an idempotent
/// batch's sequence and stores the batch in one step, as Kafka does; Nisshi 0.8.1's memory
/// engine does not (its `dynostore.rs` says so): a retry that arrives on a new connection
/// while the first copy is still being written is written too. A test that asserts each
/// record once while the proxy ends connections uses this one.
pub async fn sqlite_broker_behind(
    faults: Arc<Faults>,
    seed: u64,
    file: &std::path::Path,
) -> (crate::Broker, Proxy) {
    let origin = format!("127.0.0.1:{}", crate::free_port());
    let proxy = Proxy::start(origin.clone(), faults, seed).await;
    let broker = crate::Broker::sqlite_behind_proxy(file, &origin, proxy.addr()).await;
    (broker, proxy)
}

/// Reads one frame: the 4 length bytes followed by the body.
async fn frame(from: &mut (impl AsyncRead + Unpin)) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    from.read_exact(&mut len).await.ok()?;
    let size = usize::try_from(i32::from_be_bytes(len)).ok()?;
    let mut buf = vec![0u8; 4 + size];
    buf[..4].copy_from_slice(&len);
    from.read_exact(&mut buf[4..]).await.ok()?;
    Some(buf)
}

/// The client id in a request frame's header (after the length, api key, version and
/// correlation id: a nullable string of 16-bit length in every header version).
fn client_id(frame: &[u8]) -> Option<&[u8]> {
    let len = i16::from_be_bytes(frame.get(12..14)?.try_into().ok()?);
    frame.get(14..14 + usize::try_from(len).ok()?)
}

/// Relays one client connection until either side closes or a fault closes both.
async fn connection(client: TcpStream, broker: TcpStream, faults: Arc<Faults>, rng: XorShift) {
    let _ = client.set_nodelay(true);
    let _ = broker.set_nodelay(true);
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut broker_rx, mut broker_tx) = broker.into_split();
    // The connection-wide index, api key and client match of each request awaiting its
    // response.
    let pending: Arc<Mutex<VecDeque<(u64, i16, bool)>>> = Arc::default();
    let hung_up = Arc::clone(&faults);
    let requests = {
        let (faults, pending, mut rng) = (Arc::clone(&faults), Arc::clone(&pending), rng.clone());
        async move {
            let mut index = 0u64;
            // A request swallowed: the connection answers nothing more.
            let mut stuck = false;
            while let Some(buf) = frame(&mut client_rx).await {
                if stuck || faults.black_hole.load(Relaxed) {
                    faults.swallowed.fetch_add(1, Relaxed);
                    continue;
                }
                let api_key = buf
                    .get(4..6)
                    .map_or(-1, |b| i16::from_be_bytes([b[0], b[1]]));
                let client = faults.applies_to_client(client_id(&buf));
                let faulted = client && faults.applies(index, api_key);
                if faulted && rng.chance(&faults.cut_request_ppm) {
                    faults.cut.fetch_add(1, Relaxed);
                    let _ = broker_tx.write_all(&buf[..buf.len() / 2]).await;
                    return;
                }
                if faulted && rng.chance(&faults.swallow_request_ppm) {
                    faults.swallowed.fetch_add(1, Relaxed);
                    stuck = true;
                    continue;
                }
                // The answer names no client: whether it is the wanted client's goes with it.
                pending
                    .lock()
                    .expect("pending")
                    .push_back((index, api_key, client));
                index += 1;
                if broker_tx.write_all(&buf).await.is_err() {
                    return;
                }
            }
        }
    };
    let responses = async move {
        let mut rng = XorShift::new(rng.clone().next_u64() ^ 0xA5A5_A5A5_A5A5_A5A5);
        while let Some(mut buf) = frame(&mut broker_rx).await {
            let request = pending.lock().expect("pending").pop_front();
            if faults.black_hole.load(Relaxed) {
                faults.swallowed.fetch_add(1, Relaxed);
                continue;
            }
            if faults.damage_at_rest(&mut buf) {
                faults.corrupted.fetch_add(1, Relaxed);
            }
            if let Some((index, api_key, true)) = request
                && faults.applies(index, api_key)
            {
                if rng.chance(&faults.drop_response_ppm) {
                    faults.dropped.fetch_add(1, Relaxed);
                    return;
                }
                if buf.len() > 8 && rng.chance(&faults.corrupt_response_ppm) {
                    faults.corrupted.fetch_add(1, Relaxed);
                    let at = 8 + (rng.next_u64() as usize) % (buf.len() - 8);
                    buf[at] ^= 1 << (rng.next_u64() % 8);
                }
                if buf.len() >= 8 && rng.chance(&faults.misnumber_response_ppm) {
                    faults.corrupted.fetch_add(1, Relaxed);
                    let id = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                    buf[4..8].copy_from_slice(&id.wrapping_add(1).to_be_bytes());
                }
                if rng.chance(&faults.delay_response_ppm) {
                    faults.delayed.fetch_add(1, Relaxed);
                    let ms = faults.delay_ms.load(Relaxed);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
            }
            if client_tx.write_all(&buf).await.is_err() {
                return;
            }
        }
    };
    // Whichever direction ends first ends the connection: dropping both halves closes both.
    tokio::select! {
        () = requests => {}
        () = responses => {}
        () = hung_up.hang_up.notified() => {}
    }
}
