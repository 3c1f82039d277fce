//! The producer's identity: a producer id stable across restarts of one instance, and a
//! sequence number that never repeats for that id.
//!
//! Both live in the data directory: `producer.id` (the id, created once at random) and
//! `producer.seq` (the end of the block of sequence numbers handed out so far). Sequences are
//! reserved a block at a time (one fsync per block), and a restart continues after the reserved
//! block, so a number is never used twice even after a crash; the gap this leaves is harmless.
//! (If the data directory cannot be written when a new block is due, the process goes on with
//! unique numbers and logs an error each time; a restart after that may repeat some of them.)
use std::{
    fs,
    io::{self, Write as _},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use parking_lot::Mutex;

/// Sequence numbers reserved per write of `producer.seq`.
const BLOCK: u64 = 1 << 20;

/// Producer id and sequence source.
#[derive(Debug)]
pub struct Identity {
    producer_id: u64,
    next: AtomicU64,
    reserved: Mutex<Reserved>,
}

#[derive(Debug)]
struct Reserved {
    until: u64,
    file: Option<PathBuf>,
}

impl Identity {
    /// Loads the identity from `dir`, creating it on first use.
    pub fn load_or_create(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let id_path = dir.join("producer.id");
        let producer_id = match read_u64(&id_path)? {
            Some(id) => id,
            None => {
                // 63 random bits: positive as a Java long, for any consumer that parses it so.
                let id = (uuid::Uuid::new_v4().as_u128() as u64) >> 1;
                write_durably(&id_path, &id.to_string())?;
                id
            }
        };
        let seq_path = dir.join("producer.seq");
        let start = read_u64(&seq_path)?.unwrap_or(0);
        let until = start + BLOCK;
        write_durably(&seq_path, &until.to_string())?;
        Ok(Self {
            producer_id,
            next: AtomicU64::new(start),
            reserved: Mutex::new(Reserved {
                until,
                file: Some(seq_path),
            }),
        })
    }

    /// An identity that is not persisted (benchmarks, tests).
    pub fn ephemeral(producer_id: u64) -> Self {
        Self {
            producer_id,
            next: AtomicU64::new(0),
            reserved: Mutex::new(Reserved {
                until: u64::MAX,
                file: None,
            }),
        }
    }

    /// The producer id.
    pub fn producer_id(&self) -> u64 {
        self.producer_id
    }

    /// The next sequence number. Reserves a new block on disk when the current one runs out.
    /// If that write fails the number is still unique within this process; the failure is
    /// logged and the write is tried again on the next call.
    pub fn next_sequence(&self) -> u64 {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let mut reserved = self.reserved.lock();
        if seq >= reserved.until {
            let until = seq + BLOCK;
            match &reserved.file {
                Some(file) => match write_durably(file, &until.to_string()) {
                    Ok(()) => reserved.until = until,
                    Err(error) => tracing::error!(
                        %error,
                        file = %file.display(),
                        "cannot reserve producer sequence numbers; a restart may reuse some"
                    ),
                },
                None => reserved.until = until,
            }
        }
        seq
    }
}

/// The number stored in `path`; `None` when the file does not exist.
fn read_u64(path: &Path) -> io::Result<Option<u64>> {
    match fs::read_to_string(path) {
        Ok(text) => text.trim().parse().map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
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
mod tests {
    use super::*;

    #[test]
    fn id_is_stable_and_sequences_never_repeat_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = Identity::load_or_create(dir.path()).unwrap();
        let a: Vec<u64> = (0..5).map(|_| first.next_sequence()).collect();
        assert_eq!(a, vec![0, 1, 2, 3, 4]);
        drop(first); // a crash: nothing more is written
        let second = Identity::load_or_create(dir.path()).unwrap();
        let b = second.next_sequence();
        assert!(b > 4, "sequence {b} reused after restart");
        let third = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(third.producer_id(), second.producer_id());
        assert!(third.next_sequence() > b);
    }

    #[test]
    fn a_new_block_is_reserved_when_one_runs_out() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::load_or_create(dir.path()).unwrap();
        id.next.store(BLOCK + 3, Ordering::Relaxed);
        assert_eq!(id.next_sequence(), BLOCK + 3);
        let stored: u64 = fs::read_to_string(dir.path().join("producer.seq"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(stored > BLOCK + 3);
    }

    #[test]
    fn corrupt_id_file_is_an_error_not_a_new_identity() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("producer.id"), "not a number").unwrap();
        assert!(Identity::load_or_create(dir.path()).is_err());
    }
}
