//! The layout version of a redb store file: which encodings of the stored rows (postcard, which
//! is not self-describing) the file holds. It is a row of [`Table::Meta`] under [`KEY`], in
//! decimal.
//!
//! A binary refuses a file whose layout is newer than the one it knows ([`StoreError::Layout`]):
//! a newer release wrote rows that this one would misread, or, for outbox rows, park as
//! undecodable and so never publish after a rollback. PostgreSQL does the same through its
//! schema's migrations ([`StoreError::SchemaTooNew`]). A file without the row was written by a
//! release from before the row, whose layout is 1; opening it for writing records 1.
use super::{StoreError, Table};

/// The row's key in [`Table::Meta`].
pub const KEY: &[u8] = b"store.layout";

/// The layout this binary reads and writes.
pub const CURRENT: u32 = 1;

/// What opening a file with the stored row `stored` must do.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The file has this binary's layout.
    Current,
    /// A file from before the row: the same layout, to be recorded.
    Record,
}

/// Judges the stored row: `Err` with the stored text when this binary must not open the file
/// (a newer layout, or one it cannot read).
pub(super) fn judge(stored: Option<&[u8]>) -> Result<Verdict, String> {
    let Some(bytes) = stored else {
        return Ok(Verdict::Record);
    };
    let text = String::from_utf8_lossy(bytes);
    match text.parse::<u32>() {
        Ok(CURRENT) => Ok(Verdict::Current),
        _ => Err(text.into_owned()),
    }
}

/// The error for a file at `path` whose layout row says `found`.
pub(super) fn refused(path: std::path::PathBuf, found: String) -> StoreError {
    StoreError::Layout {
        path,
        found,
        known: CURRENT,
    }
}

/// The row [`CURRENT`] writes.
pub(super) fn current_row() -> Vec<u8> {
    CURRENT.to_string().into_bytes()
}

/// The table the row lives in.
pub(super) const TABLE: Table = Table::Meta;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_row_is_recorded_and_only_the_current_layout_opens() {
        assert_eq!(judge(None), Ok(Verdict::Record));
        assert_eq!(judge(Some(b"1")), Ok(Verdict::Current));
        assert_eq!(judge(Some(b"2")), Err("2".to_owned()));
        assert_eq!(judge(Some(b"0")), Err("0".to_owned()));
        assert_eq!(judge(Some(b"one")), Err("one".to_owned()));
        assert_eq!(current_row(), b"1");
    }
}
