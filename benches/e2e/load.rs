//! The load shapes: one registration at a time (idle), closed-loop saturation (the argon2
//! capacity), an open-loop Poisson arrival rate (a defined load), and the mixed closed-loop
//! clients (register + login + update) of the first version of this bench.
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use serde_json::json;

use super::watch;

/// One registration as the client saw it.
#[derive(Debug, Clone)]
pub struct Reg {
    pub id: String,
    /// When the request was sent (epoch ms).
    pub sent_ms: f64,
    /// When the response arrived (epoch ms).
    pub answered_ms: f64,
}

/// Registers `name`; panics on anything but 201 (a bench, not a test of errors).
pub async fn register(addr: SocketAddr, name: &str) -> Reg {
    let sent_ms = watch::now_ms();
    let body = json!({"username": name, "email": format!("{name}@example.com"), "password": "correct horse"});
    let (status, resp) =
        testkit::api(addr, "POST", "/api/v1/users/register", None, Some(body)).await;
    assert_eq!(status, 201, "{resp}");
    Reg {
        id: resp["user"]["id"].as_str().unwrap_or("").to_owned(),
        sent_ms,
        answered_ms: watch::now_ms(),
    }
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
pub async fn idle(addr: SocketAddr, seen: &watch::Shared, n: usize) -> Vec<Reg> {
    let mut regs = Vec::new();
    for i in 0..n {
        let reg = register(addr, &format!("idle{i}")).await;
        wait_welcomes(seen, std::slice::from_ref(&reg), Duration::from_secs(5)).await;
        regs.push(reg);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    regs
}

/// Registrations per second with `clients` registering back to back, `n` in all: what the
/// machine's password hashing allows.
pub async fn capacity(addr: SocketAddr, clients: usize, n: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        tasks.spawn(async move {
            for i in (c..n).step_by(clients) {
                register(addr, &format!("cap{i}")).await;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("client");
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// `n` registrations arriving as a Poisson process of `rate` per second, whatever the
/// responses take (open loop: a slow service does not slow the arrivals down).
pub async fn open_loop(addr: SocketAddr, rate: f64, n: usize) -> Vec<Reg> {
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut at = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        // xorshift64*, then an exponential gap
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        let u = (rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
        at += Duration::from_secs_f64(-(1.0 - u).ln() / rate);
        tokio::time::sleep_until(at).await;
        tasks.spawn(async move { register(addr, &format!("load{i}")).await });
    }
    let mut regs = Vec::new();
    while let Some(r) = tasks.join_next().await {
        regs.push(r.expect("client"));
    }
    regs
}

/// `clients` closed-loop clients, each `per_client` × (register, login, update); returns the
/// HTTP latencies of all requests and the registrations.
pub async fn mixed(
    addr: SocketAddr,
    clients: usize,
    per_client: usize,
) -> (Vec<Duration>, Vec<Reg>) {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        tasks.spawn(async move {
            let mut http = Vec::new();
            let mut regs = Vec::new();
            for i in 0..per_client {
                let name = format!("u{c}x{i}");
                let t = Instant::now();
                let reg = register(addr, &name).await;
                http.push(t.elapsed());
                let t = Instant::now();
                let body = json!({"username": name, "password": "correct horse"});
                let (status, resp) =
                    testkit::api(addr, "POST", "/api/v1/users/login", None, Some(body)).await;
                assert_eq!(status, 200, "{resp}");
                http.push(t.elapsed());
                let token = resp["token"].as_str().unwrap_or("").to_owned();
                let t = Instant::now();
                let path = format!("/api/v1/users/{}", reg.id);
                let (status, _) = testkit::api(
                    addr,
                    "PATCH",
                    &path,
                    Some(&token),
                    Some(json!({"nickname": "N"})),
                )
                .await;
                assert_eq!(status, 200);
                http.push(t.elapsed());
                regs.push(reg);
            }
            (http, regs)
        });
    }
    let mut http = Vec::new();
    let mut regs = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (h, reg) = r.expect("client");
        http.extend(h);
        regs.extend(reg);
    }
    (http, regs)
}
