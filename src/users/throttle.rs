//! Failed-login throttling: at most `limit` attempts per key in `window`; beyond that, the key
//! is refused until its oldest attempt ages out.
//!
//! Callers choose the keys, and so may an attacker (a login names anything), so the state must
//! stay small whatever arrives: keys are stored as a 16-byte hash, never as sent; a key whose
//! window emptied is dropped; at most `max_keys` keys are kept, each holding at most `limit`
//! instants, which bounds the bytes too ([`Throttle::max_bytes`]). When full, the key inserted
//! first goes, in O(1): an insertion queue beside the map, with a generation per entry so a
//! queue slot of a key removed since is recognised and skipped. Each call also drops up to two
//! expired keys from the front of that queue, so idle keys do not wait for eviction.
//!
//! Checking and reserving an attempt happen under one lock: a burst of concurrent guesses
//! cannot all see "allowed" before any is counted.
use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

/// A key as stored: the first 16 bytes of the SHA-256 of the key as given.
type Key = [u8; 16];

/// Expired keys dropped from the front of the queue per call.
const SWEEP_PER_CALL: usize = 2;

fn key_of(key: &str) -> Key {
    let digest = Sha256::digest(key.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

#[derive(Debug)]
struct Window {
    /// Attempts in the window, oldest first; never more than `limit`.
    times: VecDeque<Instant>,
    /// Which queue slot is this key's.
    generation: u64,
}

impl Window {
    fn expire(&mut self, now: Instant, window: Duration) {
        while self
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.times.pop_front();
        }
    }
}

#[derive(Debug, Default)]
struct State {
    map: HashMap<Key, Window>,
    /// Keys in insertion order, with the generation they were inserted with.
    queue: VecDeque<(Key, u64)>,
    next_generation: u64,
}

impl State {
    /// Whether the queue slot `(key, generation)` is the live one of its key.
    fn live(&self, key: &Key, generation: u64) -> bool {
        self.map
            .get(key)
            .is_some_and(|w| w.generation == generation)
    }

    /// Drops up to `budget` queue slots from the front that are stale or whose window expired.
    fn sweep(&mut self, now: Instant, window: Duration, budget: usize) {
        for _ in 0..budget {
            let Some(&(key, generation)) = self.queue.front() else {
                return;
            };
            if self.live(&key, generation) {
                let expired = self.map.get_mut(&key).is_some_and(|w| {
                    w.expire(now, window);
                    w.times.is_empty()
                });
                if !expired {
                    return;
                }
                self.map.remove(&key);
            }
            self.queue.pop_front();
        }
    }

    /// Removes the key inserted first (skipping stale queue slots).
    fn evict_one(&mut self) {
        while let Some((key, generation)) = self.queue.pop_front() {
            if self.live(&key, generation) {
                self.map.remove(&key);
                return;
            }
        }
    }

    /// Inserts `key` with one attempt at `now`, evicting while full.
    fn insert(&mut self, key: Key, now: Instant, max_keys: usize) {
        while self.map.len() >= max_keys.max(1) {
            self.evict_one();
        }
        // Stale slots pile up when keys leave other than by the queue; dropping them once the
        // queue is twice the bound keeps it bounded at O(1) amortised per call.
        if self.queue.len() >= 2 * max_keys.max(1) {
            let map = &self.map;
            self.queue
                .retain(|(k, g)| map.get(k).is_some_and(|w| w.generation == *g));
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        self.map.insert(
            key,
            Window {
                times: VecDeque::from([now]),
                generation,
            },
        );
        self.queue.push_back((key, generation));
    }
}

/// The throttle.
#[derive(Debug)]
pub struct Throttle {
    limit: usize,
    window: Duration,
    max_keys: usize,
    state: Mutex<State>,
}

impl Throttle {
    /// `limit` attempts per `window`, tracking at most `max_keys` keys.
    pub fn new(limit: usize, window: Duration, max_keys: usize) -> Self {
        Self {
            limit: limit.max(1),
            window,
            max_keys: max_keys.max(1),
            state: Mutex::new(State::default()),
        }
    }

    /// The most the throttle's state takes, about: every key at its limit.
    pub fn max_bytes(&self) -> usize {
        let per_key = size_of::<Key>()
            + size_of::<Window>()
            + self.limit * size_of::<Instant>()
            + 2 * size_of::<(Key, u64)>();
        // A hash map keeps up to twice its entries' room.
        2 * self.max_keys * per_key
    }

    /// Whether `key` may try now; if so, the attempt is counted (in the same critical section)
    /// until [`Throttle::succeeded`] takes it back, so concurrent guesses cannot slip past.
    pub fn try_attempt(&self, key: &str) -> bool {
        let key = key_of(key);
        let now = Instant::now();
        let mut state = self.state.lock();
        state.sweep(now, self.window, SWEEP_PER_CALL);
        match state.map.get_mut(&key) {
            Some(w) => {
                w.expire(now, self.window);
                if w.times.len() >= self.limit {
                    return false;
                }
                w.times.push_back(now);
            }
            None => state.insert(key, now, self.max_keys),
        }
        true
    }

    /// Takes back the attempt `try_attempt` counted (it succeeded).
    pub fn succeeded(&self, key: &str) {
        let key = key_of(key);
        let mut state = self.state.lock();
        if let Some(w) = state.map.get_mut(&key) {
            w.times.pop_back();
            if w.times.is_empty() {
                state.map.remove(&key);
            }
        }
    }

    /// Whether `key` has an attempt within the window (nothing is counted).
    pub fn seen(&self, key: &str) -> bool {
        let key = key_of(key);
        let now = Instant::now();
        let mut state = self.state.lock();
        state.map.get_mut(&key).is_some_and(|w| {
            w.expire(now, self.window);
            !w.times.is_empty()
        })
    }

    /// Forgets `key` (after a successful login).
    pub fn clear(&self, key: &str) {
        self.state.lock().map.remove(&key_of(key));
    }
}

#[cfg(test)]
mod tests;
