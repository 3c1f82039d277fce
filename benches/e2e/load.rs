//! The load shapes: one registration at a time (idle), closed-loop saturation (the argon2
//! capacity), an open-loop Poisson arrival rate (a defined load), and the mixed closed-loop
//! clients (register + login + update) of the first version of this bench. Requests go to
//! the service instances in turn ([`Front`]).
use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::json;

use super::watch;

/// The HTTP addresses of the service instances under test; request (or client) `i` goes to
/// instance `i mod n`.
#[derive(Debug, Clone)]
pub struct Front(Arc<[SocketAddr]>);

impl Front {
    /// Panics on an empty list (a bench needs a service).
    pub fn new(addrs: Vec<SocketAddr>) -> Self {
        assert!(!addrs.is_empty(), "no service instance");
        Self(addrs.into())
    }

    /// The instance for request or client `i`.
    pub fn pick(&self, i: usize) -> SocketAddr {
        self.0[i % self.0.len()]
    }
}

/// One registration as the client saw it.
#[derive(Debug, Clone)]
pub struct Reg {
    pub id: String,
    pub name: String,
    /// When the request was sent (epoch ms); in an open loop, when it was due.
    pub sent_ms: f64,
    /// When the client began it (epoch ms): after `sent_ms` when an open loop's client ran late.
    pub started_ms: f64,
    /// When the response arrived (epoch ms).
    pub answered_ms: f64,
}

/// HTTP latencies of each request class.
#[derive(Debug, Default)]
pub struct ByClass {
    pub register: Vec<Duration>,
    pub login: Vec<Duration>,
    pub update: Vec<Duration>,
}

impl ByClass {
    fn extend(&mut self, other: ByClass) {
        self.register.extend(other.register);
        self.login.extend(other.login);
        self.update.extend(other.update);
    }

    /// Every request's latency, whatever its class.
    pub fn all(&self) -> Vec<Duration> {
        [&self.register, &self.login, &self.update]
            .into_iter()
            .flatten()
            .copied()
            .collect()
    }
}

/// Registers `name`; panics on anything but 201 (a bench, not a test of errors).
pub async fn register(addr: SocketAddr, name: &str) -> Reg {
    register_from(addr, name, watch::now_ms()).await
}

/// [`register`], its latency counted from `sent_ms` (an open loop's scheduled arrival, which
/// the client may reach late: that lateness is latency too).
pub async fn register_from(addr: SocketAddr, name: &str, sent_ms: f64) -> Reg {
    let started_ms = watch::now_ms();
    let body = json!({"username": name, "email": format!("{name}@example.com"), "password": "correct horse"});
    let (status, resp) =
        testkit::api(addr, "POST", "/api/v1/users/register", None, Some(body)).await;
    assert_eq!(status, 201, "{resp}");
    Reg {
        id: resp["user"]["id"].as_str().unwrap_or("").to_owned(),
        name: name.to_owned(),
        sent_ms,
        started_ms,
        answered_ms: watch::now_ms(),
    }
}

/// Logs `name` in; returns the token. Panics on anything but 200.
async fn login(addr: SocketAddr, name: &str) -> String {
    let body = json!({"username": name, "password": "correct horse"});
    let (status, resp) = testkit::api(addr, "POST", "/api/v1/users/login", None, Some(body)).await;
    assert_eq!(status, 200, "{resp}");
    resp["token"].as_str().unwrap_or("").to_owned()
}

/// Changes the nickname of user `id`. Panics on anything but 200.
async fn update(addr: SocketAddr, token: &str, id: &str) {
    let path = format!("/api/v1/users/{id}");
    let body = json!({"nickname": "N"});
    let (status, resp) = testkit::api(addr, "PATCH", &path, Some(token), Some(body)).await;
    assert_eq!(status, 200, "{resp}");
}

/// Waits until every registration's welcome notification was seen (or `within` passed).
pub async fn wait_welcomes(seen: &watch::Shared, regs: &[Reg], within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if regs.iter().all(|r| seen.lock().welcome.contains_key(&r.id)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `n` registrations, each after the previous one's welcome arrived and a pause.
pub async fn idle(front: &Front, seen: &watch::Shared, n: usize) -> Vec<Reg> {
    let mut regs = Vec::new();
    for i in 0..n {
        let reg = register(front.pick(i), &format!("idle{i}")).await;
        wait_welcomes(seen, std::slice::from_ref(&reg), Duration::from_secs(5)).await;
        regs.push(reg);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    regs
}

/// A login and an update for each of `regs`, one request at a time: the idle latencies of
/// the other two request classes.
pub async fn idle_login_update(front: &Front, regs: &[Reg]) -> ByClass {
    let mut out = ByClass::default();
    for (i, reg) in regs.iter().enumerate() {
        let addr = front.pick(i);
        let t = Instant::now();
        let token = login(addr, &reg.name).await;
        out.login.push(t.elapsed());
        let t = Instant::now();
        update(addr, &token, &reg.id).await;
        out.update.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    out
}

/// `n` registrations by `clients` registering back to back; returns them, the first sent
/// first. The caller times the phase to the last welcome readable, so the capacity counts
/// what the pipeline still had to do when the last response came.
pub async fn back_to_back(front: &Front, clients: usize, n: usize) -> Vec<Reg> {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let addr = front.pick(c);
        tasks.spawn(async move {
            let mut regs = Vec::new();
            for i in (c..n).step_by(clients) {
                regs.push(register(addr, &format!("cap{i}")).await);
            }
            regs
        });
    }
    let mut regs = Vec::new();
    while let Some(r) = tasks.join_next().await {
        regs.extend(r.expect("client"));
    }
    regs.sort_by(|a, b| a.sent_ms.total_cmp(&b.sent_ms));
    regs
}

/// Registrations per second of `regs` (one back-to-back phase): to the last response, and to
/// the last welcome notification readable (`None` if one was not seen).
pub fn rates(regs: &[Reg], seen: &watch::Shared) -> (f64, Option<f64>) {
    let first = regs.iter().map(|r| r.sent_ms).fold(f64::INFINITY, f64::min);
    let answered = regs.iter().map(|r| r.answered_ms).fold(0.0, f64::max);
    let seen = seen.lock();
    let welcomes: Option<Vec<f64>> = regs
        .iter()
        .map(|r| seen.welcome.get(&r.id).map(|s| s.readable_ms))
        .collect();
    let per_s = |end: f64| regs.len() as f64 / ((end - first) / 1e3);
    let notified = welcomes.map(|w| per_s(w.into_iter().fold(answered, f64::max)));
    (per_s(answered), notified)
}

/// What an open loop offered and what came of it.
#[derive(Debug, Clone, Copy)]
pub struct Offered {
    /// The arrival generator's seed (`E2E_SEED` repeats a run's arrivals).
    pub seed: u64,
    /// Arrivals a second, from the first scheduled arrival to the last.
    pub rate: f64,
    /// Responses a second, from the first scheduled arrival to the last response.
    pub answered_rate: f64,
    /// The latest a request went out after its scheduled arrival (ms): the bench's own delay,
    /// counted in the latencies.
    pub late_ms: f64,
}

/// `n` registrations arriving as a Poisson process of `rate` per second, whatever the
/// responses take (open loop: a slow service does not slow the arrivals down). Each latency
/// counts from its scheduled arrival (no coordinated omission). The arrivals are drawn from
/// `seed`.
pub async fn open_loop(front: &Front, rate: f64, n: usize, seed: u64) -> (Vec<Reg>, Offered) {
    // xorshift64* needs a seed other than 0.
    let mut rng: u64 = seed.max(1);
    let start = tokio::time::Instant::now();
    let start_ms = watch::now_ms();
    let mut at = start;
    let mut tasks = tokio::task::JoinSet::new();
    let mut scheduled = Vec::with_capacity(n);
    for i in 0..n {
        // xorshift64*, then an exponential gap
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        let u = (rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
        at += Duration::from_secs_f64(-(1.0 - u).ln() / rate);
        tokio::time::sleep_until(at).await;
        let due_ms = start_ms + (at - start).as_secs_f64() * 1e3;
        scheduled.push(due_ms);
        let addr = front.pick(i);
        tasks.spawn(async move { register_from(addr, &format!("load{i}"), due_ms).await });
    }
    let mut regs = Vec::new();
    while let Some(r) = tasks.join_next().await {
        regs.push(r.expect("client"));
    }
    let late_ms = regs
        .iter()
        .map(|r| r.started_ms - r.sent_ms)
        .fold(0.0, f64::max);
    let first = scheduled.first().copied().unwrap_or(start_ms);
    let last = scheduled.last().copied().unwrap_or(start_ms);
    let answered = regs.iter().map(|r| r.answered_ms).fold(first, f64::max);
    let offered = Offered {
        seed,
        rate: (n.saturating_sub(1)) as f64 / ((last - first) / 1e3),
        answered_rate: n as f64 / ((answered - first) / 1e3),
        late_ms,
    };
    (regs, offered)
}

/// `clients` closed-loop clients, each `per_client` × (register, login, update); returns the
/// HTTP latencies of each request class and the registrations.
pub async fn mixed(front: &Front, clients: usize, per_client: usize) -> (ByClass, Vec<Reg>) {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let addr = front.pick(c);
        tasks.spawn(async move {
            let mut http = ByClass::default();
            let mut regs = Vec::new();
            for i in 0..per_client {
                let t = Instant::now();
                let reg = register(addr, &format!("u{c}x{i}")).await;
                http.register.push(t.elapsed());
                let t = Instant::now();
                let token = login(addr, &reg.name).await;
                http.login.push(t.elapsed());
                let t = Instant::now();
                update(addr, &token, &reg.id).await;
                http.update.push(t.elapsed());
                regs.push(reg);
            }
            (http, regs)
        });
    }
    let mut http = ByClass::default();
    let mut regs = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (h, reg) = r.expect("client");
        http.extend(h);
        regs.extend(reg);
    }
    (http, regs)
}
