//! Each client's share of the hashing queue: how many hashes one client (an IPv4 address, an
//! IPv6 /48: [`crate::users::client_network::client_site_key`]) may have queued or running at
//! once. Without it a few addresses sending logins back to back fill every place
//! (`auth.max_pending_hashes`), and every other client is answered 503 until they stop; with
//! it they are refused past their share and the rest of the queue stays for everyone else.
//! Counts live while a hash of the client is pending: at most one entry per pending hash.
use std::collections::HashMap;

use parking_lot::Mutex;

/// Pending hashes per client.
#[derive(Debug, Default)]
pub(super) struct ClientShares {
    pending: Mutex<HashMap<String, usize>>,
}

impl ClientShares {
    /// Counts one more hash for `client` unless it already has `max`; whether it did.
    pub(super) fn take(&self, client: &str, max: usize) -> bool {
        let mut pending = self.pending.lock();
        if let Some(n) = pending.get_mut(client) {
            if *n >= max {
                return false;
            }
            *n += 1;
            return true;
        }
        if max == 0 {
            return false;
        }
        pending.insert(client.to_owned(), 1);
        true
    }

    /// Counts one of `client`'s hashes out (taken with [`Self::take`]).
    pub(super) fn give_back(&self, client: &str) {
        let mut pending = self.pending.lock();
        if let Some(n) = pending.get_mut(client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                pending.remove(client);
            }
        }
    }

    /// Clients with a hash pending.
    #[cfg(test)]
    pub(super) fn clients(&self) -> usize {
        self.pending.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_share_and_no_more_and_others_theirs() {
        let shares = ClientShares::default();
        assert!(shares.take("192.0.2.1", 2));
        assert!(shares.take("192.0.2.1", 2));
        assert!(!shares.take("192.0.2.1", 2), "past its share");
        assert!(
            shares.take("192.0.2.2", 2),
            "another client is not held back"
        );
        shares.give_back("192.0.2.1");
        assert!(
            shares.take("192.0.2.1", 2),
            "a place given back is taken again"
        );
        for _ in 0..2 {
            shares.give_back("192.0.2.1");
        }
        shares.give_back("192.0.2.2");
        assert_eq!(shares.clients(), 0, "no entry outlives its hashes");
        shares.give_back("192.0.2.9");
        assert_eq!(shares.clients(), 0);
    }
}
