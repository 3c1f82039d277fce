//! The service's password hashing pool as the instances report it: how long hashes waited for
//! a hashing thread and held one (`/metrics`), and how a held thread spent that time, on a
//! core or waiting for one (`/proc/<pid>/task/<tid>/schedstat` of the `argon2-*` threads).
//! The time a hash holds its thread is the service time of the M/M/c model's servers as the
//! service sees it under load: argon2 itself plus the time the thread waited for a core.
use std::net::SocketAddr;

use super::{
    queue::MMc,
    service::{Instances, sample},
};

/// Totals summed over the instances; [`Pool::since`] makes them a phase's.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pool {
    /// Hashing threads.
    pub threads: f64,
    /// Hashes finished.
    pub hashes: f64,
    /// Seconds the hashes waited for a hashing thread.
    pub waited: f64,
    /// Seconds the hashes held their thread (wall clock).
    pub held: f64,
    /// Seconds the hashing threads ran on a core.
    pub on_core: f64,
    /// Seconds the hashing threads were runnable but waited for a core (woken for the next hash
    /// included).
    pub run_queue: f64,
}

impl Pool {
    /// The instances' totals now.
    pub async fn read(instances: &Instances) -> Self {
        let mut sum = Self::default();
        for (addr, text) in instances.addrs().iter().zip(instances.metrics().await) {
            sum.add_metrics(*addr, &text);
        }
        for pid in instances.pids() {
            let (on_core, run_queue) = hashing_threads(pid);
            sum.on_core += on_core;
            sum.run_queue += run_queue;
        }
        sum
    }

    /// Adds the pool's figures from `text`, the `/metrics` of the instance at `addr`.
    fn add_metrics(&mut self, addr: SocketAddr, text: &str) {
        let count: f64 = sample(text, "usercenter_password_hash_seconds_count");
        assert!(
            count > 0.0,
            "{addr}: no usercenter_password_hash_seconds in /metrics"
        );
        self.hashes += count;
        self.threads += sample::<f64>(text, "usercenter_password_hashing_threads");
        self.held += sample::<f64>(text, "usercenter_password_hash_seconds_sum");
        self.waited += sample::<f64>(text, "usercenter_password_hash_wait_seconds_sum");
    }

    /// What happened between `before` and `self`.
    pub fn since(self, before: Self) -> Self {
        Self {
            threads: self.threads,
            hashes: self.hashes - before.hashes,
            waited: self.waited - before.waited,
            held: self.held - before.held,
            on_core: self.on_core - before.on_core,
            run_queue: self.run_queue - before.run_queue,
        }
    }

    /// The mean seconds a hash held its thread: argon2 as the service computes it under this
    /// load, its time waiting for a core included.
    fn held_per_hash(&self) -> f64 {
        self.held / self.hashes.max(1.0)
    }

    /// Seconds a hashing request waits for a thread in a closed loop of `clients` spread evenly
    /// over `instances`: nearly every client is in a hashing request, so at each instance one
    /// waits for (its clients − its threads) / its threads hashes of the time held here.
    pub fn closed_loop_wait(&self, clients: usize, instances: usize) -> f64 {
        let instances = instances.max(1);
        let threads = self.threads_per_instance(instances) as f64;
        let waiting = (clients as f64 / instances as f64 - threads).max(0.0);
        waiting / threads * self.held_per_hash()
    }

    /// Each of `instances` instances' hashing threads (their pools are alike).
    fn threads_per_instance(&self, instances: usize) -> usize {
        (self.threads / instances.max(1) as f64).round().max(1.0) as usize
    }

    /// The M/M/c queue of one of `instances` instances with arrivals at `rate`/s spread
    /// evenly over them: its hashing threads as servers, and the mean time a hash held its
    /// thread as the service time (argon2 as the service computes it under this load).
    pub fn queue(&self, instances: usize, rate: f64) -> MMc {
        let instances = instances.max(1);
        MMc {
            c: self.threads_per_instance(instances),
            service: self.held_per_hash(),
            rate: rate / instances as f64,
        }
    }

    /// One line: per hash, the wait for a thread, the time holding it, and the threads' time on
    /// a core and waiting for one.
    pub fn describe(&self) -> String {
        let per = |s: f64| s / self.hashes.max(1.0) * 1e3;
        format!(
            "{:.0} hashes; per hash, {:.1} ms waiting for a hashing thread and {:.1} ms holding it; the hashing threads ran {:.1} ms on a core and waited {:.1} ms for one (their run-queue time, a woken thread's delay before it takes the hash included)",
            self.hashes,
            per(self.waited),
            per(self.held),
            per(self.on_core),
            per(self.run_queue),
        )
    }
}

/// Seconds the `argon2-*` threads of process `pid` have run on a core and waited on a run
/// queue, from their `schedstat` (0 where unreadable).
fn hashing_threads(pid: u32) -> (f64, f64) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0.0, 0.0);
    };
    let (mut on_core, mut waiting) = (0u64, 0u64);
    for task in tasks.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with("argon2-") {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("schedstat")).unwrap_or_default();
        let mut fields = stat
            .split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0));
        on_core += fields.next().unwrap_or(0);
        waiting += fields.next().unwrap_or(0);
    }
    (on_core as f64 / 1e9, waiting as f64 / 1e9)
}

/// Hashing threads per instance as configured: `USERCENTER_AUTH_HASHING_THREADS`, which
/// reaches the service, when set above 0, else one per CPU as the service's default.
pub fn configured_threads(cores: usize) -> usize {
    std::env::var("USERCENTER_AUTH_HASHING_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(cores)
}
