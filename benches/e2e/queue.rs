//! The physical floor of the register request: argon2's service time, measured alone in this
//! process, and what an M/M/c queue (c hashing threads, Poisson arrivals) predicts for the
//! request's time in the service at an offered rate.
use std::time::Instant;

/// Seconds of one password hash (argon2id as the service computes it) while `c` hashes run at
/// once, as the c servers of the model do (two argon2 working areas of 19 MiB share the
/// caches and the memory bus: one hash alone is faster). The median of `c` × `n` hashes, so
/// that a hash slowed by another process's burst does not count as the floor.
pub fn hash_seconds(c: usize, n: usize) -> f64 {
    let mut times: Vec<f64> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..c.max(1))
            .map(|_| scope.spawn(move || hash_times(n)))
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect()
    });
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Seconds of each of `n` hashes one after another on this thread.
fn hash_times(n: usize) -> Vec<f64> {
    (0..n.max(1))
        .map(|_| {
            let started = Instant::now();
            let _ = usercenter::users::hash_password("correct horse");
            started.elapsed().as_secs_f64()
        })
        .collect()
}

/// An M/M/c queue: `c` servers of mean service time `service` seconds, arrivals at `rate`/s.
#[derive(Debug, Clone, Copy)]
pub struct MMc {
    pub c: usize,
    pub service: f64,
    pub rate: f64,
}

impl MMc {
    /// The servers' utilisation, λ/(cμ).
    pub fn utilisation(&self) -> f64 {
        self.rate * self.service / self.c as f64
    }

    /// Erlang's C: the probability that an arrival waits.
    pub fn wait_probability(&self) -> f64 {
        let a = self.rate * self.service; // offered load in servers
        let rho = self.utilisation();
        if rho >= 1.0 {
            return 1.0;
        }
        let mut term = 1.0; // a^k / k!
        let mut sum = 1.0;
        for k in 1..self.c {
            term *= a / k as f64;
            sum += term;
        }
        let last = term * a / self.c as f64 / (1.0 - rho);
        last / (sum + last)
    }

    /// P(response time > t): the wait (none with probability 1 − C, else exponential at rate
    /// cμ − λ) plus the exponential service time.
    fn survival(&self, t: f64) -> f64 {
        let mu = 1.0 / self.service;
        let drain = (self.c as f64 * mu - self.rate).max(1e-9);
        let c = self.wait_probability();
        let served = (-mu * t).exp();
        let waited_and_served = if (drain - mu).abs() < 1e-9 {
            (1.0 + mu * t) * served
        } else {
            (drain * served - mu * (-drain * t).exp()) / (drain - mu)
        };
        (1.0 - c) * served + c * waited_and_served
    }

    /// The `q` quantile of the response time, in seconds.
    pub fn response_quantile(&self, q: f64) -> f64 {
        if self.utilisation() >= 1.0 {
            return f64::INFINITY;
        }
        let (mut lo, mut hi) = (0.0, self.service);
        while self.survival(hi) > 1.0 - q {
            hi *= 2.0;
        }
        for _ in 0..100 {
            let mid = (lo + hi) / 2.0;
            if self.survival(mid) > 1.0 - q {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    }
}

/// Checks the model against two figures worked by hand (a bench has no unit tests of its own:
/// this runs first in every run, the smoke run under `cargo test` included).
pub fn check_model() {
    // M/M/1 is the textbook case: the response time is exponential at rate μ − λ.
    let one = MMc {
        c: 1,
        service: 0.025,
        rate: 32.0,
    };
    for p in [0.5, 0.99] {
        let exact = -(1.0f64 - p).ln() / (1.0 / 0.025 - 32.0);
        assert!(
            (one.response_quantile(p) - exact).abs() < 1e-6,
            "M/M/1 q{p}"
        );
    }
    assert!((one.wait_probability() - 0.8).abs() < 1e-12, "M/M/1 C");
    // Two servers at 80 %: Erlang C is 0.7111.
    let two = MMc {
        c: 2,
        service: 0.025,
        rate: 64.0,
    };
    assert!((two.wait_probability() - 0.7111).abs() < 1e-3, "M/M/2 C");
}
