//! The argon2 working area a hashing thread keeps from one hash to the next.
//!
//! argon2id fills 19 MiB per hash. A fresh area for each hash costs its zeroing and the copy of
//! a default block into each of its 19,456 blocks, and the page faults of memory the allocator
//! gave back to the OS in between: about a tenth of a hash when two run at once on the 2-core
//! VM of `docs/performance.md`. argon2 writes every block before it reads it, so an area that
//! held the previous hash needs no clearing. A hashing thread drops its area when hashes stop
//! coming ([`release`], called by [`super::hashing_pool`]).
use std::cell::RefCell;

use argon2::{Block, Params};

thread_local! {
    /// This thread's area: empty until its first hash and after [`release`].
    static AREA: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// The blocks of the area a thread keeps: what the default parameters (the ones the service
/// hashes with) need. A hash that needs more (a stored hash made with a larger `m`) gets an
/// area of its own for that hash only.
fn kept_blocks() -> usize {
    Params::DEFAULT.block_count()
}

/// Runs `f` with a working area of exactly `blocks` blocks: the thread's kept area, allocated
/// on first use, or a fresh one when `blocks` is more than the kept area holds.
pub(super) fn with_area<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let kept = kept_blocks();
    if blocks > kept {
        return f(&mut fresh(blocks));
    }
    AREA.with_borrow_mut(|area| {
        if area.len() < kept {
            *area = fresh(kept);
        }
        f(&mut area[..blocks])
    })
}

/// Drops this thread's area, so that the allocator can hand its memory back to the OS.
pub(super) fn release() {
    AREA.with_borrow_mut(|area| *area = Vec::new());
}

/// Whether this thread holds an area now.
#[cfg(test)]
pub(super) fn held() -> bool {
    AREA.with_borrow(|area| !area.is_empty())
}

fn fresh(blocks: usize) -> Vec<Block> {
    vec![Block::default(); blocks]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_one_area_for_the_default_size_and_drops_it_on_release() {
        let first = with_area(kept_blocks(), |area| area.as_ptr() as usize);
        assert!(held());
        let smaller = with_area(8, |area| (area.len(), area.as_ptr() as usize));
        assert_eq!(
            smaller,
            (8, first),
            "a smaller hash uses the kept area's start"
        );
        let larger = with_area(kept_blocks() + 4, |area| area.len());
        assert_eq!(larger, kept_blocks() + 4);
        assert_eq!(
            with_area(kept_blocks(), |area| area.as_ptr() as usize),
            first,
            "the larger hash's area was its own"
        );
        release();
        assert!(!held());
    }
}
