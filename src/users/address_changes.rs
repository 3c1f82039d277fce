//! The daily bound on an account's e-mail address changes (`Users::address_changes`): each
//! change tells the address the account had, so without a bound one account could mail two
//! addresses back and forth as fast as the store commits. A change counts once per request,
//! only when the address changes by its lookup key (not in case alone), and only for the
//! account's own changes: an admin correcting another account is not held to it. A request
//! that writes no change gives its count back.
use std::cell::Cell;

use uuid::Uuid;

use super::{Result, Throttle, UserError, core::Caller, lookup_key};

/// One update request's count against its account's bound.
pub(super) struct AddressChange<'a> {
    throttle: &'a Throttle,
    /// The account's key in the throttle.
    key: String,
    /// Whether the bound applies (the account's own change).
    limited: bool,
    /// Whether this request counted a change.
    counted: Cell<bool>,
    /// Whether the last write attempt changed the address.
    made: Cell<bool>,
}

impl<'a> AddressChange<'a> {
    /// The count of `caller`'s update of account `id`.
    pub(super) fn new(throttle: &'a Throttle, caller: &Caller, id: Uuid) -> Self {
        Self {
            throttle,
            key: id.to_string(),
            limited: caller.user.id == id,
            counted: Cell::new(false),
            made: Cell::new(false),
        }
    }

    /// Whether `new` is another address than `old` (not the same in another case).
    pub(super) fn differs(old: &str, new: &str) -> bool {
        lookup_key(old) != lookup_key(new)
    }

    /// Counts the change, once per request: [`UserError::TooManyChanges`] past the bound.
    pub(super) fn count(&self) -> Result<()> {
        if !self.limited || self.counted.get() {
            return Ok(());
        }
        if !self.throttle.try_attempt(&self.key) {
            return Err(UserError::TooManyChanges);
        }
        self.counted.set(true);
        Ok(())
    }

    /// Notes whether the write attempt under way changed the address (a retried write says
    /// again).
    pub(super) fn made(&self, changed: bool) {
        self.made.set(changed);
    }

    /// After the write (`written`: it committed): the count goes back unless the address
    /// changed.
    pub(super) fn settle(&self, written: bool) {
        if self.counted.get() && !(written && self.made.get()) {
            self.throttle.succeeded(&self.key);
        }
    }
}
