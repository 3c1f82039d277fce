//! The load of the namespace tests and its tallies.
use super::*;

/// The HTTP load: [`CLIENTS`] clients working through [`USERS`] users against the instance on
/// the host, and the longest time they went without a 2xx answer while they ran.
pub(super) struct Load {
    pub(super) tally: Arc<Tally>,
    pub(super) started: Instant,
    pub(super) clients: Vec<tokio::task::JoinHandle<Vec<Outcome>>>,
    /// 2xx answers at the last sample, and since when.
    pub(super) last: (usize, Instant),
    /// The longest time without a 2xx answer, and when it began.
    pub(super) longest: (Duration, Instant),
}

impl Load {
    /// Starts the clients; returns once they have made a quarter of their requests.
    pub(super) async fn start(instances: &[Instance]) -> Self {
        let addrs: Arc<Vec<SocketAddr>> = Arc::new(vec![instances[HOST].addr]);
        let tally = Arc::new(Tally::default());
        let started = Instant::now();
        let clients = start_clients(&tally, &addrs, CLIENTS, USERS);
        requests_made(&tally, USERS, &clients, instances).await;
        Self {
            tally,
            started,
            clients,
            last: (0, started),
            longest: (Duration::ZERO, started),
        }
    }

    /// Takes a sample of the answers. Once no client runs, time without answers is no stall.
    pub(super) fn tick(&mut self) {
        let running = !self
            .clients
            .iter()
            .all(tokio::task::JoinHandle::is_finished);
        let (ok, now) = (self.tally.ok.load(Ordering::Relaxed), Instant::now());
        if ok != self.last.0 || !running {
            self.last = (ok, now);
        }
        if now - self.last.1 > self.longest.0 {
            self.longest = (now - self.last.1, self.last.1);
        }
    }

    /// Polls `check` every 100 ms, taking samples meanwhile, until it holds; returns how long
    /// after `since` that was. Fails after [`LIMIT`] with the logs.
    pub(super) async fn until(
        &mut self,
        since: Instant,
        what: &str,
        instances: &[Instance],
        mut check: impl AsyncFnMut() -> bool,
    ) -> Duration {
        while !check().await {
            assert!(
                since.elapsed() < LIMIT,
                "timed out after {LIMIT:?} waiting for {what}\n{}",
                logs(instances)
            );
            self.pause().await;
        }
        since.elapsed()
    }

    /// Takes a sample and sleeps 100 ms.
    pub(super) async fn pause(&mut self) {
        self.tick();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// At the heal: how long the cut made at `cut` lasted, the time, the requests made so far.
    pub(super) fn healed(&self, cut: Instant) -> (Duration, Instant, usize) {
        let requests = self.tally.requests.load(Ordering::Relaxed);
        (cut.elapsed(), Instant::now(), requests)
    }

    /// Waits for the clients, taking samples; fails after [`LIMIT`] with the logs. Returns
    /// what [`verify`] found of the users' outcomes and how long the load took.
    pub(super) async fn finish(
        &mut self,
        s: &Setup,
        instances: &[Instance],
    ) -> (Verified, Duration) {
        let deadline = Instant::now() + LIMIT;
        while !self
            .clients
            .iter()
            .all(tokio::task::JoinHandle::is_finished)
        {
            assert!(
                Instant::now() < deadline,
                "the clients did not finish within {LIMIT:?} of the heal\n{}",
                logs(instances)
            );
            self.pause().await;
        }
        let mut outcomes = Vec::new();
        for c in self.clients.drain(..) {
            outcomes.extend(c.await.unwrap());
        }
        let load_time = self.started.elapsed();
        // Every request goes to the instance on the host, whose links are whole.
        let verified = verify(
            &s.db,
            &s.broker.addr,
            instances,
            &outcomes,
            self.started,
            USERS,
        )
        .await;
        (verified, load_time)
    }

    /// The requests and their answers.
    pub(super) fn summary(&self) -> String {
        let t = &self.tally;
        format!(
            "{} requests ({} 2xx, {} 4xx, {} 5xx, {} unanswered) from {USERS} users",
            t.requests.load(Ordering::Relaxed),
            t.ok.load(Ordering::Relaxed),
            t.client_error.load(Ordering::Relaxed),
            t.server_error.load(Ordering::Relaxed),
            t.no_answer.load(Ordering::Relaxed),
        )
    }
}

/// What [`verify`] counted, in words.
pub(super) fn summary(v: &Verified) -> String {
    format!(
        "{} events, {} relayed twice, {} welcome records, {} users; drained after {:.1?}",
        v.events, v.copies, v.welcome_records, v.users, v.drained
    )
}
