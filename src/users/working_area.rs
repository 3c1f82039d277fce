//! The argon2 hasher a hashing thread keeps from one hash to the next, and with it the
//! hasher's working area.
//!
//! argon2id fills 19 MiB per hash. A fresh area for each hash costs its mapping and the page
//! faults of memory given back to the OS in between. [`argon2_rust::Hasher`] keeps its area
//! from one hash to the next (and wipes it as each hash returns), so a thread hashing
//! back to back maps it once. A hashing thread drops its area when hashes stop coming
//! ([`release`], called by [`super::hashing_pool`]). A stored hash that needs more memory than
//! the service's parameters is computed in an area of its own, freed when it returns.
use std::cell::RefCell;

use argon2_rust::{Algorithm, Argon2, Hasher, Params, Version};

/// What the service hashes new passwords with: argon2id, version 19, 19 MiB, 2 passes, 1 lane,
/// a 32-byte output (OWASP's profile).
pub(super) const SERVICE: Argon2 =
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT);

thread_local! {
    /// This thread's hasher: its area is empty until its first hash and after [`release`].
    static HASHER: RefCell<Hasher> = RefCell::new(SERVICE.hasher());
}

/// Runs `f` with this thread's hasher (configured with [`SERVICE`]).
pub(super) fn with_hasher<T>(f: impl FnOnce(&mut Hasher) -> T) -> T {
    HASHER.with_borrow_mut(f)
}

/// Drops this thread's area, so that its memory goes back to the OS.
pub(super) fn release() {
    HASHER.with_borrow_mut(Hasher::clear);
}

/// Whether this thread holds an area now.
#[cfg(test)]
pub(super) fn held() -> bool {
    HASHER.with_borrow(|hasher| hasher.reserved_blocks() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_one_area_across_hashes_and_drops_it_on_release() {
        assert!(!held(), "nothing before the first hash");
        let mut out = [0u8; 32];
        with_hasher(|h| h.hash_into(b"pw", b"saltsaltsalt", &mut out)).unwrap();
        let blocks = with_hasher(|h| h.reserved_blocks());
        assert_eq!(blocks, SERVICE.params().memory_blocks() as usize);
        with_hasher(|h| h.hash_into(b"pw2", b"saltsaltsalt", &mut out)).unwrap();
        assert_eq!(
            with_hasher(|h| h.reserved_blocks()),
            blocks,
            "the same area"
        );
        release();
        assert!(!held());
    }
}
