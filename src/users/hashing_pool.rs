//! The password hashing pool: a few long-lived threads that run every argon2 computation, so
//! concurrency and memory stay bounded (one 19 MiB working area per thread, kept while hashes
//! keep coming: [`super::working_area`]) whatever the request load, and what `/metrics` says
//! about it (how long a hash waited for a thread, how long it held one).
//!
//! The pool has one thread per CPU unless [`set_hashing_threads`] said otherwise before the
//! first hash (`auth.hashing_threads`). The binary lowers the threads' priority
//! ([`on_hashing_thread_start`]), so that nothing else waits behind a hash for a core.
use std::{
    sync::{
        Arc, LazyLock, OnceLock,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use super::{ClientGone, RequestCtx, Result, UserError, client_network, working_area};
use crate::metrics::{Counter, Histogram, render_value};
use handoff::{Handoff, Next, Slot};

mod handoff;

type Job = Box<dyn FnOnce() + Send>;

/// The pool's size when [`set_hashing_threads`] set none: one thread per CPU.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// The pool size [`set_hashing_threads`] chose, read once when the pool starts.
static THREADS: OnceLock<usize> = OnceLock::new();

/// Asks for a pool of `threads` hashing threads (0: one per CPU). The first ask, or the first
/// hash (which starts the pool), settles the size: `Ok(size)` when it is the one asked for,
/// `Err(size)` when it was settled otherwise before.
pub fn set_hashing_threads(threads: usize) -> std::result::Result<usize, usize> {
    let asked = if threads == 0 {
        default_threads()
    } else {
        threads
    };
    // The pool reads THREADS when it starts (setting it if unset).
    let size = *THREADS.get_or_init(|| asked);
    if size == asked { Ok(size) } else { Err(size) }
}

static POOL: LazyLock<Arc<Handoff<Job>>> = LazyLock::new(|| {
    let pool = Arc::new(Handoff::new());
    let threads = *THREADS.get_or_init(default_threads);
    for n in 0..threads {
        let jobs = Arc::clone(&pool);
        // Counted here, so the gauge is whole once the pool is; a thread that ends counts out.
        THREADS_RUNNING.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || hashing_thread(&jobs, KEEP_AREA_FOR));
        if let Err(error) = spawned {
            THREADS_RUNNING.fetch_sub(1, Ordering::Relaxed);
            tracing::error!(%error, "cannot start a password hashing thread");
        }
    }
    pool
});

/// Hashing threads running: started and not ended.
static THREADS_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Hashes queued or running, counted from when their [`Ticket`] is taken.
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// The most hashes queued or running that [`set_max_pending_hashes`] asked for (0: the
/// default, [`default_max_pending`]).
static MAX_PENDING: OnceLock<usize> = OnceLock::new();

/// Hashes queued or running at most when none was asked for: 64 per hashing thread, at most
/// 256. A hash waiting for a thread keeps its caller's blocking thread (Tokio has 512), so
/// the queue stays well below that.
fn default_max_pending(threads: usize) -> usize {
    (64 * threads).min(256).max(threads)
}

/// Asks for at most `max` hashes queued or running (0: 64 per hashing thread, at most 256);
/// a hash asked for beyond is refused with [`UserError::HashingBusy`]. The first ask stands.
pub fn set_max_pending_hashes(max: usize) {
    let _ = MAX_PENDING.set(max);
}

/// The most hashes of one client queued or running that
/// [`set_max_pending_hashes_per_client`] asked for (0: a quarter of [`max_pending`]).
static MAX_PER_CLIENT: OnceLock<usize> = OnceLock::new();

/// Asks for at most `max` hashes of one client (an IPv4 address, an IPv6 /48) queued or
/// running (0: a quarter of the places, at least one); a hash asked for beyond is refused with
/// [`UserError::HashingBusy`]. The first ask stands.
pub fn set_max_pending_hashes_per_client(max: usize) {
    let _ = MAX_PER_CLIENT.set(max);
}

/// The most hashes of one client queued or running: never more than the pool's places.
fn max_per_client() -> usize {
    let all = max_pending();
    match MAX_PER_CLIENT.get() {
        Some(&max) if max > 0 => max.min(all),
        _ => (all / 4).max(1),
    }
}

/// Hashes pending per client ([`super::ClientShares`]).
static SHARES: LazyLock<super::ClientShares<String>> = LazyLock::new(Default::default);

/// The most hashes queued or running.
fn max_pending() -> usize {
    let threads = *THREADS.get_or_init(default_threads);
    match MAX_PENDING.get() {
        // Fewer places than threads would leave threads idle.
        Some(&max) if max > 0 => max.max(threads),
        _ => default_max_pending(threads),
    }
}

/// A hash's place on the pool, taken before the work that leads to the hash (a login's
/// throttles, the store reads before it), so a full pool refuses the request before anything
/// is counted or written. [`on_pool`] uses it up; dropped unused, it gives the place back.
#[derive(Debug)]
#[must_use = "a ticket holds a place on the hashing pool"]
pub(super) struct Ticket {
    /// The client that asked: when it is gone before the hash begins, the hash is skipped.
    gone: ClientGone,
    /// Still counted in [`PENDING`] by this ticket (not yet handed to a job).
    held: bool,
    /// The client whose share ([`SHARES`]) it counts in, until it is dropped: [`on_pool`]
    /// keeps it until the hash is done.
    client: Option<String>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.held {
            PENDING.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(client) = &self.client {
            SHARES.give_back(client);
        }
    }
}

/// A place on the pool for one hash for the client `gone` tells about; refused with
/// [`UserError::HashingBusy`] when as many hashes as allowed are queued or running.
pub(super) fn ticket(gone: &ClientGone) -> Result<Ticket> {
    if !take_place(&PENDING, max_pending()) {
        METRICS.refused.add(1);
        return Err(UserError::HashingBusy);
    }
    Ok(Ticket {
        gone: gone.clone(),
        held: true,
        client: None,
    })
}

/// [`ticket`] for the client of the request `ctx`, within its share of the places
/// ([`set_max_pending_hashes_per_client`]); refused with [`UserError::HashingBusy`] past it.
pub(super) fn client_ticket(ctx: &RequestCtx) -> Result<Ticket> {
    let client = client_network::client_site_key(&ctx.ip);
    if !SHARES.take(&client, max_per_client()) {
        METRICS.refused.add(1);
        return Err(UserError::HashingBusy);
    }
    match ticket(&ctx.client_gone) {
        Ok(mut ticket) => {
            ticket.client = Some(client);
            Ok(ticket)
        }
        Err(e) => {
            SHARES.give_back(&client);
            Err(e)
        }
    }
}

/// Counts one more in `pending` unless it already holds `max`; whether it did.
fn take_place(pending: &AtomicUsize, max: usize) -> bool {
    pending
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

/// Seconds: from well under a hash (a free thread) to a queue of hundreds of hashes.
static SECONDS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
    2.5,
];

/// How long hashes waited for a thread, and how long they held one.
struct PoolMetrics {
    wait: Histogram,
    hash: Histogram,
    /// Hashes refused: the pool had as many queued or running as allowed.
    refused: Counter,
    /// Hashes skipped: their client was gone when a thread took them.
    skipped: Counter,
}

static METRICS: LazyLock<PoolMetrics> = LazyLock::new(|| PoolMetrics {
    wait: Histogram::new(&SECONDS),
    hash: Histogram::new(&SECONDS),
    refused: Counter::default(),
    skipped: Counter::default(),
});

/// Hashes run on the pool so far (in this process).
#[cfg(test)]
pub(super) fn hashes_run() -> u64 {
    METRICS.hash.count()
}

/// Appends the pool's metrics in the Prometheus text format to `out`.
pub fn render_hashing_metrics(out: &mut String) {
    render_value(
        out,
        "usercenter_password_hashing_threads",
        "gauge",
        "Threads of the password hashing pool (0 until the first hash starts it).",
        THREADS_RUNNING.load(Ordering::Relaxed),
    );
    render_value(
        out,
        "usercenter_password_hashes_pending",
        "gauge",
        "Password hashes (argon2id) queued for or running on the hashing pool.",
        PENDING.load(Ordering::Relaxed),
    );
    render_value(
        out,
        "usercenter_password_hashes_refused_total",
        "counter",
        "Password hashes refused with 503 hashing_busy: as many were queued or running as auth.max_pending_hashes allows.",
        METRICS.refused.get(),
    );
    render_value(
        out,
        "usercenter_password_hashes_skipped_total",
        "counter",
        "Queued password hashes skipped because their HTTP client had gone when a thread took them.",
        METRICS.skipped.get(),
    );
    METRICS.wait.render(
        out,
        "usercenter_password_hash_wait_seconds",
        "Time a password hash waited for a hashing thread.",
    );
    METRICS.hash.render(
        out,
        "usercenter_password_hash_seconds",
        "Time a password hash held its hashing thread (argon2id, wall clock).",
    );
}

/// How long a hashing thread keeps its working area with no hash to compute. Hashes that come
/// at least this often reuse it (the thread that went idle last takes the next hash); an idle
/// service holds none this long after its last hash.
const KEEP_AREA_FOR: Duration = Duration::from_secs(10);

/// What each hashing thread calls first, on itself; see [`on_hashing_thread_start`].
static START_HOOK: OnceLock<fn()> = OnceLock::new();

/// Sets what each hashing thread calls when it starts, on that thread, before its first hash.
/// The binary uses it to lower the threads' priority, so that the event pipeline and the HTTP
/// front never queue behind a hash for a core. Must be set before the first hash.
pub fn on_hashing_thread_start(hook: fn()) {
    let _ = START_HOOK.set(hook);
}

/// A hashing thread: runs the hashes `jobs` hands it, and drops its working area whenever none
/// came for about `keep_area_for`.
fn hashing_thread(jobs: &Handoff<Job>, keep_area_for: Duration) {
    let _running = Running(&THREADS_RUNNING);
    if let Some(hook) = START_HOOK.get() {
        hook();
    }
    let slot = Slot::new();
    loop {
        let next = match jobs.next(&slot, keep_area_for) {
            Next::Idle => {
                working_area::release();
                jobs.next_cold(&slot)
            }
            next => next,
        };
        let Next::Job(job) = next else { return };
        job();
    }
}

/// A running hashing thread: counted out of its count ([`THREADS_RUNNING`]) when it ends, a
/// panic included.
struct Running(&'static AtomicUsize);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A hash queued or being computed: counted out of its count ([`PENDING`]) when it ends, a
/// panic included, or when its job is dropped unrun.
struct Finished(&'static AtomicUsize);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `f` on the hashing pool in the place `ticket` holds, and waits for it (callers are
/// blocking-pool threads). Skipped, with [`UserError::ClientGone`], when the ticket's client
/// is gone by the time a thread takes it.
pub(super) fn on_pool<T: Send + 'static>(
    mut ticket: Ticket,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    let queued = Instant::now();
    let gone = ticket.gone.clone();
    // From here the job counts itself out of PENDING: before it answers (so the place is free
    // once the caller has its answer), or when it is dropped unrun or its hash panics.
    ticket.held = false;
    let finished = Finished(&PENDING);
    let job: Job = Box::new(move || {
        if gone.is_set() {
            METRICS.skipped.add(1);
            drop(finished);
            let _ = tx.send(None);
            return;
        }
        let started = Instant::now();
        METRICS.wait.observe((started - queued).as_secs_f64());
        let out = f();
        METRICS.hash.observe(started.elapsed().as_secs_f64());
        drop(finished);
        let _ = tx.send(Some(out));
    });
    // Refused (the pool stopped): the job comes back and is dropped, counted out.
    if POOL.send(job).is_err() {
        return Err(UserError::HashingStopped);
    }
    match rx.recv() {
        Ok(Some(out)) => Ok(out),
        Ok(None) => Err(UserError::ClientGone),
        // The job's sender is dropped unanswered only if its thread died running it.
        Err(_) => Err(UserError::HashingStopped),
    }
}

#[cfg(test)]
mod tests;
