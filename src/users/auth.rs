//! Passwords (argon2id) and session tokens (256 random bits, stored as SHA-256).
//!
//! Each argon2id computation takes 19 MiB for a few tens of milliseconds; at most one per CPU
//! runs at a time, so memory stays bounded however many requests arrive at once. The binary
//! lowers the threads' priority ([`on_hashing_thread_start`]), so that nothing else waits
//! behind a hash for a core.
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use super::{Result, UserError};

type Job = Box<dyn FnOnce() + Send>;

/// A few long-lived threads that run every argon2 computation: concurrency and memory stay
/// bounded (one 19 MiB working area per busy thread), whatever the request load.
static POOL: std::sync::LazyLock<Mutex<std::sync::mpsc::Sender<Job>>> =
    std::sync::LazyLock::new(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        for n in 0..threads {
            let rx = std::sync::Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || hashing_thread(&rx));
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password hashing thread");
            }
        }
        Mutex::new(tx)
    });

/// Hashes queued or running; the thread that brings it to zero calls the idle hook.
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// What a hashing thread calls when no hash is left to do; see [`on_hashing_idle`].
static IDLE_HOOK: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets what the hashing thread that finishes the last queued hash calls, on that thread. The
/// binary uses it to have its allocator return the freed argon2 working area to the OS at once
/// (an allocator keeps it for reuse otherwise: 19 MiB per hashing thread resident while idle).
/// Under load the queue rarely empties, so the area is reused; when it does, faulting the area
/// back in costs about a millisecond against the tens of milliseconds of a hash.
pub fn on_hashing_idle(hook: fn()) {
    let _ = IDLE_HOOK.set(hook);
}

/// What each hashing thread calls first, on itself; see [`on_hashing_thread_start`].
static START_HOOK: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets what each hashing thread calls when it starts, on that thread, before its first hash.
/// The binary uses it to lower the threads' priority, so that the event pipeline and the HTTP
/// front never queue behind a hash for a core. Must be set before the first hash.
pub fn on_hashing_thread_start(hook: fn()) {
    let _ = START_HOOK.set(hook);
}

fn hashing_thread(rx: &Mutex<std::sync::mpsc::Receiver<Job>>) {
    if let Some(hook) = START_HOOK.get() {
        hook();
    }
    loop {
        let job = rx.lock().recv();
        let Ok(job) = job else { return };
        job();
        if PENDING.fetch_sub(1, Ordering::AcqRel) == 1
            && let Some(hook) = IDLE_HOOK.get()
        {
            hook();
        }
    }
}

/// Runs `f` on the hashing pool and waits for it (callers are blocking-pool threads).
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    PENDING.fetch_add(1, Ordering::AcqRel);
    if POOL.lock().send(job).is_err() {
        PENDING.fetch_sub(1, Ordering::AcqRel);
        return Err(UserError::HashingStopped);
    }
    // The job's sender is dropped unanswered only if its thread died running it.
    rx.recv().map_err(|_| UserError::HashingStopped)
}

/// Hashes `password` with argon2id (default parameters: 19 MiB, 2 passes) and a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(UserError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(UserError::Hash)?;
    let password = password.to_owned();
    bounded(move || {
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(UserError::Hash)
    })?
}

/// Whether `password` matches the PHC string `hash` (constant-time comparison inside argon2).
pub fn verify_password(password: &str, hash: &str) -> bool {
    if PasswordHash::new(hash).is_err() {
        return false;
    }
    let (password, hash) = (password.to_owned(), hash.to_owned());
    bounded(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .unwrap_or(false)
}

/// A new session token: 32 random bytes as 64 hex characters.
pub fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(UserError::Random)?;
    Ok(hex(&bytes))
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
