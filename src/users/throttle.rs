//! Failed-login throttling per account and per IP: at most `limit` failures in `window`;
//! beyond that, logins for that key are refused until the oldest failure ages out. Bounded:
//! at most `max_keys` keys are tracked (the stalest are dropped first).
use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use parking_lot::Mutex;

/// The throttle.
#[derive(Debug)]
pub struct Throttle {
    limit: usize,
    window: Duration,
    max_keys: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    /// `limit` failures per `window`, tracking at most `max_keys` keys.
    pub fn new(limit: usize, window: Duration, max_keys: usize) -> Self {
        Self {
            limit,
            window,
            max_keys,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` may try now; if so, the attempt is counted as a failure until
    /// [`Throttle::succeeded`] says otherwise, so concurrent guesses cannot slip past the limit.
    pub fn try_attempt(&self, key: &str) -> bool {
        if !self.allowed(key) {
            return false;
        }
        self.failed(key);
        true
    }

    /// Takes back the attempt `try_attempt` counted (it succeeded).
    pub fn succeeded(&self, key: &str) {
        let mut map = self.failures.lock();
        if let Some(times) = map.get_mut(key) {
            times.pop_back();
            if times.is_empty() {
                map.remove(key);
            }
        }
    }

    /// Whether `key` may try now.
    pub fn allowed(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut map = self.failures.lock();
        match map.get_mut(key) {
            Some(times) => {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > self.window)
                {
                    times.pop_front();
                }
                times.len() < self.limit
            }
            None => true,
        }
    }

    /// Records a failure of `key`.
    pub fn failed(&self, key: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock();
        if map.len() >= self.max_keys && !map.contains_key(key) {
            // Drop the key whose latest failure is oldest.
            let stalest = map
                .iter()
                .min_by_key(|(_, t)| t.back().copied())
                .map(|(k, _)| k.clone());
            if let Some(k) = stalest {
                map.remove(&k);
            }
        }
        let times = map.entry(key.to_owned()).or_default();
        times.push_back(now);
        while times.len() > self.limit {
            times.pop_front();
        }
    }

    /// Forgets `key` (after a successful login).
    pub fn clear(&self, key: &str) {
        self.failures.lock().remove(key);
    }
}

#[cfg(test)]
mod tests;
