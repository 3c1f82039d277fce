//! The instance's producer id: the `ce_producerid` of every record it publishes, stable across
//! restarts, so that a record replayed after a crash keeps its dedupe key.
//!
//! It lives in `producer.id` in the data directory, created once at random. The sequences that
//! go with it are not here: they come from the store's counter, taken in the transaction that
//! writes each outbox row ([`super::stamp`]). (Earlier versions also kept a second counter in
//! `producer.seq`; it is no longer read.)
use std::{
    fs,
    io::{self, Write as _},
    path::{Path, PathBuf},
};

/// The producer id kept in `dir`, created on first use.
pub fn load_or_create(dir: &Path) -> io::Result<u64> {
    fs::create_dir_all(dir)?;
    let path = dir.join("producer.id");
    match fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // 63 random bits: positive as a Java long, for any consumer that parses it so.
            let id = (uuid::Uuid::new_v4().as_u128() as u64) >> 1;
            write_durably(&path, &id.to_string())?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

/// Writes `text` to `path` via a temporary file, fsync and rename.
fn write_durably(path: &Path, text: &str) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
