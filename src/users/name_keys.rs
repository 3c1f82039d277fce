//! The key a user name or e-mail address is kept unique and looked up by ([`lookup_key`]), and
//! the one-off pass that brings the keys an earlier version wrote to it ([`Users::rekey_names`]).
//!
//! Two spellings are the same name when they differ only in case or are canonically
//! equivalent Unicode (a letter with its accent composed, or as a letter and a combining
//! mark). Lower case alone does not say that: it maps the Greek capital sigma to the final
//! form at the end of a word, so `ΟΔΥΣΣΕΥΣ` and `οδυσσευσ` had two keys, and `zoë` composed
//! and decomposed had two as well.
use std::collections::BTreeSet;

use tracing::{info, warn};
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use super::{
    Result, User, UserError,
    core::{Users, user_key},
};
use crate::store::{self, Table};

/// The key a user name or e-mail address is looked up and kept unique by: the composed
/// (NFC) lower case of its upper case, each taken of the decomposed (NFD) text, so that
/// spellings that differ in case or are canonically equivalent have one key. The one
/// definition of "the same name ignoring case": the `usernames` and `emails` tables of every
/// backend are keyed by it (on PostgreSQL the `username_key` and `email_key` columns hold it,
/// written from here, because the database's `lower()` folds differently: only ASCII under
/// the C locale, no final sigma under any). ASCII text keys as its ASCII lower case, as it
/// always did.
pub fn lookup_key(name: &str) -> String {
    if name.is_ascii() {
        return name.to_ascii_lowercase();
    }
    let upper = name.nfd().collect::<String>().to_uppercase();
    upper
        .nfd()
        .collect::<String>()
        .to_lowercase()
        .nfc()
        .collect()
}

/// The `Meta` row that says the keys are [`lookup_key`]'s (its value: [`KEYS_VERSION`]).
const KEYS_ROW: &[u8] = b"names/keys";
/// The version of [`lookup_key`] the stored keys follow: 1 was the plain lower case.
const KEYS_VERSION: &[u8] = b"2";
/// Index rows read at a time while looking for keys to bring up to date.
const SCAN_ROWS: usize = 1_000;

/// What [`Users::rekey_names`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rekeyed {
    /// Accounts whose keys were rewritten.
    pub rewritten: usize,
    /// Accounts left with their old keys, because another account holds a new one (two
    /// accounts the new key calls the same, made under the old one).
    pub clashing: Vec<Uuid>,
}

impl Users {
    /// Rewrites the name and address keys an earlier version wrote (plain lower case) as
    /// [`lookup_key`] writes them, once per store: a `Meta` row remembers it was done. Only
    /// non-ASCII keys can differ. An account whose new key another account already holds
    /// (two accounts made under the old key that the new one calls the same) keeps its old
    /// keys, and a warning names both: every spelling of that name or address then finds the
    /// other account, and this one logs in by its other name.
    pub fn rekey_names(&self) -> Result<Rekeyed> {
        let done = self.read(|txn| Ok(txn.get(Table::Meta, KEYS_ROW)?))?;
        if done.as_deref() == Some(KEYS_VERSION) {
            return Ok(Rekeyed::default());
        }
        let ids = self.ids_with_non_ascii_keys()?;
        info!(
            accounts = ids.len(),
            "store: rewriting the name and e-mail keys of accounts with non-ASCII names or addresses (once)"
        );
        let mut rekeyed = Rekeyed::default();
        for id in ids {
            match self.write(|txn| Self::rekey_user(txn, id))? {
                Rekey::Rewritten => rekeyed.rewritten += 1,
                Rekey::Unchanged => {}
                Rekey::Clash { other } => {
                    warn!(account = %id, other = %other, "store: two accounts have the same name or e-mail address ignoring case and accents: `account` keeps its old key, so that name or address now finds `other`, and `account` logs in by its other one");
                    rekeyed.clashing.push(id);
                }
            }
        }
        self.write(|txn| Ok(txn.put(Table::Meta, KEYS_ROW, KEYS_VERSION)?))?;
        info!(
            rewritten = rekeyed.rewritten,
            clashing = rekeyed.clashing.len(),
            "store: name and e-mail keys rewritten"
        );
        Ok(rekeyed)
    }

    /// The accounts a non-ASCII key of [`Table::Usernames`] or [`Table::Emails`] names.
    fn ids_with_non_ascii_keys(&self) -> Result<BTreeSet<Uuid>> {
        let mut ids = BTreeSet::new();
        for table in [Table::Usernames, Table::Emails] {
            let mut start = Vec::new();
            loop {
                let rows = self.read(|txn| Ok(txn.range_from(table, &start, SCAN_ROWS)?))?;
                for (key, id) in &rows {
                    if !key.is_ascii() {
                        ids.insert(index_id(table, id)?);
                    }
                }
                match rows.last() {
                    Some((last, _)) if rows.len() == SCAN_ROWS => {
                        start = last.clone();
                        start.push(0);
                    }
                    _ => break,
                }
            }
        }
        Ok(ids)
    }

    /// Rewrites the keys of `id`, unless another account holds one of its new keys.
    fn rekey_user(txn: &mut dyn store::WriteTxn, id: Uuid) -> Result<Rekey> {
        let Some(user) = store::get::<User>(txn, Table::Users, &user_key(id))? else {
            return Ok(Rekey::Unchanged);
        };
        let mut changes = Vec::new();
        for (table, name) in [
            (Table::Usernames, &user.username),
            (Table::Emails, &user.email),
        ] {
            let (old, new) = (name.to_lowercase(), lookup_key(name));
            if old == new {
                continue;
            }
            if let Some(other) = txn.get(table, new.as_bytes())? {
                let other = index_id(table, &other)?;
                if other != id {
                    return Ok(Rekey::Clash { other });
                }
            }
            changes.push((table, old, new));
        }
        if changes.is_empty() {
            return Ok(Rekey::Unchanged);
        }
        for (table, old, new) in changes {
            txn.rekey(table, old.as_bytes(), new.as_bytes(), id.as_bytes())?;
        }
        Ok(Rekey::Rewritten)
    }
}

/// What [`Users::rekey_user`] did.
enum Rekey {
    Rewritten,
    Unchanged,
    Clash { other: Uuid },
}

/// The user id an index row holds.
fn index_id(table: Table, id: &[u8]) -> Result<Uuid> {
    Uuid::from_slice(id).map_err(|source| UserError::Corrupt {
        table: table.name(),
        source,
    })
}

#[cfg(test)]
mod tests;
