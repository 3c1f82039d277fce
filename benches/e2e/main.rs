//! End to end, against the service as its own release process and a local broker this
//! benchmark starts: the time from a register request to its welcome notification being
//! readable on Kafka, idle, at 80 % of the machine's registration (argon2) capacity as an
//! open-loop arrival rate, and under the mixed closed-loop clients (register + login +
//! update), with a breakdown per hop; requests/s, HTTP latency, the service's memory.
//!
//! `cargo bench --bench e2e [-- --store postgres]` (or `E2E_STORE=postgres`): the PostgreSQL
//! backend runs on a private cluster started like the tests start one. `USERCENTER_*`
//! variables reach the service (to try a tunable); `E2E_SERVICE_BIN` replaces its binary. Under `cargo test` a small smoke version runs.
mod load;
mod queue;
mod report;
mod watch;

use std::{
    net::SocketAddr,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `--store postgres` or `E2E_STORE=postgres`.
fn postgres_wanted() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let flag = args
        .windows(2)
        .any(|w| w[0] == "--store" && w[1] == "postgres")
        || args.iter().any(|a| a == "--store=postgres");
    flag || std::env::var("E2E_STORE").is_ok_and(|v| v == "postgres")
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    queue::check_model();
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        panic!("tokio runtime");
    };
    runtime.block_on(async {
        let broker = testkit::Broker::memory().await;
        let data = tempfile::tempdir().expect("temp dir");
        let addr: SocketAddr = ([127, 0, 0, 1], testkit::free_port()).into();
        // `E2E_SERVICE_BIN` runs another build (or a wrapper: deploy/profile.sh profiles through one).
        let bin = std::env::var_os("E2E_SERVICE_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_usercenter").into());
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--brokers", &broker.addr, "--listen", &addr.to_string()])
            .arg("--data-dir")
            .arg(data.path())
            .env("RUST_LOG", "error")
            // The fetch wait `deploy/run.sh` runs its local Nisshi with (docs/configuration.md).
            .env(
                "USERCENTER_CONSUMER_FETCH_MAX_WAIT_MS",
                std::env::var("USERCENTER_CONSUMER_FETCH_MAX_WAIT_MS").unwrap_or_else(|_| "20".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let pg = if postgres_wanted() {
            let pg = testkit::postgres::Postgres::start().await;
            cmd.env("USERCENTER_STORE_BACKEND", "postgres")
                .env("USERCENTER_STORE_URL", pg.database().await);
            Some(pg)
        } else {
            None
        };
        let backend = if pg.is_some() { "postgres" } else { "redb" };
        let mut service = cmd.spawn().expect("start usercenter");
        let pid = service.id();
        // Ready: Kafka reached and topics made.
        let mut ready = false;
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                let (status, _) = testkit::http(addr, "GET", "/ready").await;
                if status == 200 {
                    ready = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "service not ready");
        let idle_rss = rss_kib(pid, "VmRSS:");
        let seen = watch::start(&broker.addr, 3).await;
        let within = Duration::from_secs(60);

        let (n_idle, n_cap, n_load, clients, per_client) =
            if full { (40, 160, 400, 8, 60) } else { (2, 4, 4, 2, 2) };
        // Warm-up: the consumer joins its group and gets its partitions after /ready; the
        // first welcome notification waits for that, which is no latency of the pipeline.
        let warm = load::register(addr, "warmup").await;
        load::wait_welcomes(&seen, &[warm], within).await;
        let idle = load::idle(addr, &seen, n_idle).await;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let capacity = load::capacity(addr, 4 * cores, n_cap).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rate = 0.8 * capacity;
        // argon2 alone, while the service idles: the service time of the M/M/c model, with c
        // the service's hashing threads (one per CPU).
        let model = queue::MMc {
            c: cores,
            service: queue::hash_seconds(if full { 20 } else { 2 }),
            rate,
        };
        let loaded = load::open_loop(addr, rate, n_load).await;
        load::wait_welcomes(&seen, &loaded, within).await;
        tokio::time::sleep(Duration::from_millis(500)).await;

        let started = Instant::now();
        let (http, mixed) = load::mixed(addr, clients, per_client).await;
        let elapsed = started.elapsed();
        let peak_rss = rss_kib(pid, "VmHWM:");
        load::wait_welcomes(&seen, &mixed, within).await;

        println!("\nregister → welcome notification, store {backend}; capacity {capacity:.1} registrations/s ({} clients back to back)", 4 * cores);
        println!("{}", report::HEADER);
        println!("{}", report::row("idle (one at a time)", &idle, &seen));
        println!("{}", report::row(&format!("80 % = {rate:.1}/s open loop"), &loaded, &seen));
        println!("{}", report::row(&format!("{clients} clients × (register, login, update)"), &mixed, &seen));
        println!(
            "\nthe floor: argon2 alone {:.1} ms per hash; c = {cores} hashing threads; at {rate:.1}/s (utilisation {:.0} %) an M/M/c queue predicts the register request at p50 {:.1} ms, p99 {:.1} ms (Erlang C {:.2})",
            model.service * 1e3,
            model.utilisation() * 1e2,
            model.response_quantile(0.5) * 1e3,
            model.response_quantile(0.99) * 1e3,
            model.wait_probability(),
        );
        let idle_hops = report::hops("idle", &idle, &seen);
        let loaded_hops = report::hops("80 %", &loaded, &seen);
        println!("{}", report::targets(&idle_hops, &loaded_hops, &model));
        let http = report::millis(&http);
        println!("\nmixed clients: {clients} x {per_client} x (register + login + update), store {backend}");
        println!("| requests | requests/s | HTTP p50 ms | HTTP p99 ms | RSS idle MiB | RSS peak MiB |");
        println!("|---|---|---|---|---|---|");
        println!(
            "| {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} |",
            http.len(),
            http.len() as f64 / elapsed.as_secs_f64(),
            report::percentile(&http, 0.5),
            report::percentile(&http, 0.99),
            idle_rss as f64 / 1024.0,
            peak_rss as f64 / 1024.0,
        );
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        let _ = service.wait();
        drop(pg);
    });
}
