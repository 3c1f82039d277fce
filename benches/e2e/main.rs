//! End to end, against the service as its own release process and a local broker this
//! benchmark starts: the time from a register request to its welcome notification being
//! readable on Kafka, idle, at 80 % of the machine's registration (argon2) capacity as an
//! open-loop arrival rate, and under the mixed closed-loop clients (register + login +
//! update), with a breakdown per hop; requests/s, HTTP latency per request class, the
//! service's memory; each target beside its measured value and its physical floor.
//!
//! `cargo bench --bench e2e [-- --store postgres] [--instances N]` (or `E2E_STORE=postgres`,
//! `E2E_INSTANCES`): the PostgreSQL backend runs on a private cluster started like the tests
//! start one, by default with 2 instances sharing it (requests go to them in turn).
//! `USERCENTER_*` variables reach the service (to try a tunable); `E2E_SERVICE_BIN` replaces
//! its binary; `E2E_SEED` repeats a run's open-loop arrivals (the run prints its seed). Under
//! `cargo test` a small smoke version runs.
mod hashing;
mod load;
mod machine;
mod queue;
mod report;
mod requests;
mod service;
mod watch;

use std::time::{Duration, Instant};

/// The service's allocator, so that argon2 alone is measured as the service hashes: with
/// glibc's malloc here one hash at a time took about twice as long (21-30 ms against 12-15).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `--store postgres` or `E2E_STORE=postgres`.
fn postgres_wanted() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let flag = args
        .windows(2)
        .any(|w| w[0] == "--store" && w[1] == "postgres")
        || args.iter().any(|a| a == "--store=postgres");
    flag || std::env::var("E2E_STORE").is_ok_and(|v| v == "postgres")
}

/// The open loop's seed: `E2E_SEED`, else the clock's nanoseconds, so that runs differ in
/// their arrivals and a run can be repeated.
fn seed() -> u64 {
    std::env::var("E2E_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| u64::from(d.subsec_nanos()) | 1)
        })
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    queue::check_model();
    // argon2 alone, as many hashes at a time as the instances' hashing threads run (one per
    // CPU each by default, `USERCENTER_AUTH_HASHING_THREADS` otherwise; at most the cores),
    // before the broker, the database and the service start: the service time of the M/M/c
    // model. Measured later in a run (after the idle phase, or after the capacity phase), on
    // one machine it varied from 17 to 69 ms a hash.
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let postgres = postgres_wanted();
    let n_instances = service::count(postgres);
    let per_instance = hashing::configured_threads(cores);
    let threads = per_instance.saturating_mul(n_instances);
    let at_once = threads.min(cores);
    let hash = queue::hash_seconds(at_once, if full { 11 } else { 2 });
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        panic!("tokio runtime");
    };
    runtime.block_on(async {
        let broker = testkit::Broker::memory().await;
        let data = tempfile::tempdir().expect("temp dir");
        let pg = if postgres {
            Some(testkit::postgres::Postgres::start().await)
        } else {
            None
        };
        let url = match &pg {
            Some(pg) => Some(pg.database().await),
            None => None,
        };
        let backend = if postgres { "postgres" } else { "redb" };
        let instances =
            service::Instances::start(&broker.addr, data.path(), url.as_deref(), n_instances).await;
        let front = instances.front.clone();
        let idle_rss = instances.rss_mib("VmRSS:");
        let seen = watch::start(&broker.addr, 3).await;
        let within = Duration::from_secs(60);

        // The capacity and open-loop phases last a few seconds each at 150-300 registrations a
        // second (640 and 800 registrations), and the open loop's p99 is its 9th slowest.
        let (n_idle, n_cap, n_load, clients, per_client) =
            if full { (40, 640, 800, 8, 60) } else { (2, 4, 4, 2, 2) };
        // Warm-up: the consumer joins its group and gets its partitions after /ready; the
        // first welcome notification waits for that, which is no latency of the pipeline.
        for i in 0..n_instances {
            let warm = load::register(front.pick(i), &format!("warmup{i}")).await;
            load::wait_welcomes(&seen, &[warm], within).await;
        }
        let conflicts_start = instances.conflicts().await;
        let idle = load::idle(&front, &seen, n_idle).await;
        let mut idle_http = load::idle_login_update(&front, &idle).await;
        idle_http.register = idle
            .iter()
            .map(|r| Duration::from_secs_f64((r.answered_ms - r.sent_ms).max(0.0) / 1e3))
            .collect();
        let conflicts_idle = instances.conflicts().await;
        let back_to_back = load::back_to_back(&front, 4 * cores, n_cap).await;
        load::wait_welcomes(&seen, &back_to_back, within).await;
        let (answered_rate, notified_rate) = load::rates(&back_to_back, &seen);
        // The sustainable rate is the whole pipeline's: registrations to their last welcome.
        let capacity = notified_rate.unwrap_or(answered_rate);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rate = 0.8 * capacity;
        // The queue of argon2 alone. When the instances' threads together outnumber the cores
        // (the default with several instances: one per CPU each), they share the cores, which
        // the OS pools among them: one queue, c = the cores. When each thread can have a core
        // of its own, each instance is a queue of its own: c = its threads, at its share of
        // the arrivals (requests go to the instances in turn).
        let (queues, c) = if threads > cores {
            (1, cores)
        } else {
            (n_instances, per_instance)
        };
        let model = queue::MMc {
            c,
            service: hash,
            rate: rate / queues as f64,
        };
        let conflicts_capacity = instances.conflicts().await;
        let pool_before = hashing::Pool::read(&instances).await;
        let cpu_before = machine::Cpu::read(&instances.pids(), broker.pid());
        let requests_before = requests::Requests::read(&instances).await;
        let (loaded, offered) = load::open_loop(&front, rate, n_load, seed()).await;
        let cpu = machine::Cpu::read(&instances.pids(), broker.pid());
        let requests = requests::Requests::read(&instances).await.since(&requests_before);
        let pool = hashing::Pool::read(&instances).await.since(pool_before);
        // The threads the model counts are those the instances run (a config file or a
        // wrapper could set others).
        let reported = pool.threads.round() as usize;
        if reported != threads {
            println!(
                "WARNING: the instances report {reported} hashing threads, the model counts {per_instance} per instance: set USERCENTER_AUTH_HASHING_THREADS to what they run"
            );
        }
        load::wait_welcomes(&seen, &loaded, within).await;
        let conflicts_loaded = instances.conflicts().await;
        tokio::time::sleep(Duration::from_millis(500)).await;

        let pool_before = hashing::Pool::read(&instances).await;
        let started = Instant::now();
        let (http, mixed) = load::mixed(&front, clients, per_client).await;
        let elapsed = started.elapsed();
        let mixed_pool = hashing::Pool::read(&instances).await.since(pool_before);
        let peak_rss = instances.rss_mib("VmHWM:");
        load::wait_welcomes(&seen, &mixed, within).await;
        let conflicts_mixed = instances.conflicts().await;

        println!("\nregister → welcome notification, store {backend}, {n_instances} instance(s); capacity {capacity:.1} registrations/s ({} clients back to back, to the last welcome readable; {answered_rate:.1}/s to the last response)", 4 * cores);
        println!("{}", report::scheduler());
        println!(
            "open loop (seed {}): offered {:.1}/s of the {rate:.1}/s asked, answered at {:.1}/s; each request went out at most {:.1} ms after its arrival (counted in its latency)",
            offered.seed, offered.rate, offered.answered_rate, offered.late_ms
        );
        println!("{}", report::HEADER);
        println!("{}", report::row("idle (one at a time)", &idle, &seen));
        println!("{}", report::row(&format!("80 % = {rate:.1}/s open loop"), &loaded, &seen));
        println!("{}", report::row(&format!("{clients} clients × (register, login, update)"), &mixed, &seen));
        println!(
            "\nthe floor: argon2 alone, {at_once} hashes at a time, {:.1} ms per hash; {queues} queue(s) of c = {c} (the {cores} cores pooled when the instances' hashing threads outnumber them, else an instance's threads) at {:.1}/s each (utilisation {:.0} %): an M/M/c queue predicts the register request at p50 {:.1} ms, p99 {:.1} ms (Erlang C {:.2})",
            model.service * 1e3,
            model.rate,
            model.utilisation() * 1e2,
            model.response_quantile(0.5) * 1e3,
            model.response_quantile(0.99) * 1e3,
            model.wait_probability(),
        );
        // What a registration costs the whole machine (hashing, store, broker, the bench's
        // readers) at capacity: the service time when more than argon2 shares the cores.
        let whole = queue::MMc { c: cores, service: cores as f64 / capacity, rate };
        println!(
            "with what a registration costs the machine at capacity ({:.1} ms = cores / capacity) the M/M/c queue (c = the cores) predicts p50 {:.1} ms, p99 {:.1} ms",
            whole.service * 1e3,
            whole.response_quantile(0.5) * 1e3,
            whole.response_quantile(0.99) * 1e3,
        );
        // The hash as the service's hashing threads hold it in this phase: argon2 plus the
        // time the thread waited for a core behind the rest of the machine's work; each
        // instance's hashing threads are a queue of their own.
        let in_service = pool.queue(n_instances, rate);
        println!("the hashing pool in the 80 % phase, summed over the instances: {}", pool.describe());
        println!("{}", cpu.describe(&cpu_before, &pool, loaded.len()));
        println!("{}", requests.describe(loaded.len()));
        println!(
            "with the hash's time in the service under this load ({:.1} ms) as the service time of each instance's {} hashing threads (at {:.1}/s each) the M/M/c queue predicts p50 {:.1} ms, p99 {:.1} ms (utilisation {:.0} %)",
            in_service.service * 1e3,
            in_service.c,
            in_service.rate,
            in_service.response_quantile(0.5) * 1e3,
            in_service.response_quantile(0.99) * 1e3,
            in_service.utilisation() * 1e2,
        );
        let idle_hops = report::hops("idle", &idle, &seen);
        let loaded_hops = report::hops("80 %", &loaded, &seen);
        println!("{}", report::targets(&idle_hops, &loaded_hops, &model, &in_service));
        // Argon2 alone: each queue's c threads, its share of the clients queued for them; in the
        // service: each instance's threads and its share of the clients, the hash as long as it
        // held a thread.
        let waiting = (clients as f64 / queues as f64 - c as f64).max(0.0) / c as f64;
        let queue_ms = [
            waiting * model.service * 1e3,
            mixed_pool.closed_loop_wait(clients, n_instances) * 1e3,
        ];
        println!("\nmixed clients: {clients} x {per_client} x (register + login + update), store {backend}, {n_instances} instance(s)");
        println!("the hashing pool in the mixed phase, summed over the instances: {}", mixed_pool.describe());
        println!("{}", report::classes(&idle_http, &http, queue_ms));
        let all = report::millis(&http.all());
        println!("\n| requests | requests/s | HTTP p50 ms | HTTP p99 ms | RSS idle MiB | RSS peak MiB (summed over instances) |");
        println!("|---|---|---|---|---|---|");
        println!(
            "| {} | {:.0} | {:.1} | {:.1} | {idle_rss:.1} | {peak_rss:.1} |",
            all.len(),
            all.len() as f64 / elapsed.as_secs_f64(),
            report::percentile(&all, 0.5),
            report::percentile(&all, 0.99),
        );
        if postgres {
            println!("\nstore write conflicts (serialization failures and deadlocks, each run again), summed over the instances:");
            println!("| phase | attempts run again | write transactions retried | given up |");
            println!("|---|---|---|---|");
            let phases = [
                ("idle", conflicts_idle.since(conflicts_start)),
                ("capacity", conflicts_capacity.since(conflicts_idle)),
                ("80 % open loop", conflicts_loaded.since(conflicts_capacity)),
                ("mixed clients (with the wait for their welcomes)", conflicts_mixed.since(conflicts_loaded)),
            ];
            for (phase, c) in phases {
                println!("| {phase} | {} | {} | {} |", c.retries, c.retried, c.given_up);
            }
        }
        instances.stop();
        drop(pg);
    });
}
