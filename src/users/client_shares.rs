//! How many of something each client holds at once, each up to a share: the places of the
//! hashing queue ([`super::hashing_pool`]: one client is an IPv4 address or an IPv6 /48,
//! [`super::client_site_key`]) and the HTTP front's connection slots
//! (`http::admission`: an address or IPv6 /64, and its site, an IPv6 /48, with a share of
//! its own). Without a share a few clients fill
//! every place and everyone else is refused until they stop; with it they are refused past
//! their share and the rest stays for everyone else. A client's count lives while it holds
//! something: at most one entry per thing held.
use std::{collections::HashMap, hash::Hash};

use parking_lot::Mutex;

/// What each client holds.
#[derive(Debug)]
pub struct ClientShares<K> {
    held: Mutex<HashMap<K, usize>>,
}

impl<K> Default for ClientShares<K> {
    fn default() -> Self {
        Self {
            held: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone> ClientShares<K> {
    /// Counts one more for `client` unless it already holds `max`; whether it did.
    pub fn take(&self, client: &K, max: usize) -> bool {
        let mut held = self.held.lock();
        if let Some(n) = held.get_mut(client) {
            if *n >= max {
                return false;
            }
            *n += 1;
            return true;
        }
        if max == 0 {
            return false;
        }
        held.insert(client.clone(), 1);
        true
    }

    /// Counts one of `client`'s out (taken with [`Self::take`]).
    pub fn give_back(&self, client: &K) {
        let mut held = self.held.lock();
        if let Some(n) = held.get_mut(client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(client);
            }
        }
    }

    /// The clients holding something.
    #[cfg(test)]
    pub(crate) fn clients(&self) -> Vec<K> {
        self.held.lock().keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_share_and_no_more_and_others_theirs() {
        let shares = ClientShares::<String>::default();
        assert!(shares.take(&"192.0.2.1".to_owned(), 2));
        assert!(shares.take(&"192.0.2.1".to_owned(), 2));
        assert!(!shares.take(&"192.0.2.1".to_owned(), 2), "past its share");
        assert!(
            shares.take(&"192.0.2.2".to_owned(), 2),
            "another client is not held back"
        );
        shares.give_back(&"192.0.2.1".to_owned());
        assert!(
            shares.take(&"192.0.2.1".to_owned(), 2),
            "a place given back is taken again"
        );
        for _ in 0..2 {
            shares.give_back(&"192.0.2.1".to_owned());
        }
        shares.give_back(&"192.0.2.2".to_owned());
        assert!(shares.clients().is_empty(), "no entry outlives its hashes");
        shares.give_back(&"192.0.2.9".to_owned());
        assert!(shares.clients().is_empty());
    }
}
