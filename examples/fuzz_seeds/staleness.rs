//! The committed seeds and dictionaries (`fuzz/seeds`, `fuzz/dicts`) are what this example
//! writes from the code now. A config key, request field, user status or wire format that
//! changes, or an update of a crate whose output a seed holds (the compression codecs,
//! `toml`, `kafka-protocol`), without them being written again fails here
//! (`cargo test --examples`, a step of the test command), naming each file that differs.
use std::{
    collections::BTreeMap,
    fs,
    io::ErrorKind,
    path::{Path, PathBuf},
};

/// Every file under `root`, by its path relative to `root`, with its bytes; none when `root`
/// does not exist.
fn files(root: &Path) -> std::io::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Err(e) if e.kind() == ErrorKind::NotFound && dir == root => return Ok(found),
            read => read?,
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let bytes = fs::read(&path)?;
                let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
                found.insert(relative, bytes);
            }
        }
    }
    Ok(found)
}

/// What differs between the `committed` tree and the freshly `written` one, one line per file.
fn differences(committed: &Path, written: &Path) -> std::io::Result<Vec<String>> {
    let (was, now) = (files(committed)?, files(written)?);
    let mut lines = Vec::new();
    for (path, bytes) in &now {
        let at = committed.join(path);
        match was.get(path) {
            None => lines.push(format!("not committed: {}", at.display())),
            Some(old) if old != bytes => lines.push(format!("out of date: {}", at.display())),
            Some(_) => {}
        }
    }
    for path in was.keys().filter(|p| !now.contains_key(*p)) {
        let at = committed.join(path);
        lines.push(format!("no longer written: {}", at.display()));
    }
    Ok(lines)
}

#[test]
fn committed_seeds_and_dictionaries_are_current() -> std::io::Result<()> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let (seeds, dicts) = (fuzz.join("seeds"), fuzz.join("dicts"));
    let scratch = tempfile::tempdir()?;
    let written_seeds = scratch.path().join("seeds");
    let written_dicts = super::write_seeds_and_dicts(&written_seeds)?;
    let mut stale = differences(&seeds, &written_seeds)?;
    stale.extend(differences(&dicts, &written_dicts)?);
    // The example adds and overwrites files; it removes none, hence the rm.
    assert!(
        stale.is_empty(),
        "the committed fuzz seeds or dictionaries are not what the code writes now; write them \
         again and commit them:\n  rm -r {seeds} {dicts} && cargo run --example fuzz_seeds -- {seeds}\n{}",
        stale.join("\n"),
        seeds = seeds.display(),
        dicts = dicts.display(),
    );
    Ok(())
}

#[test]
fn each_file_not_committed_out_of_date_or_no_longer_written_is_named() -> std::io::Result<()> {
    let (committed, written) = (tempfile::tempdir()?, tempfile::tempdir()?);
    for (dir, name, bytes) in [
        (committed.path(), "same", "x"),
        (written.path(), "same", "x"),
        (committed.path(), "changed", "a"),
        (written.path(), "changed", "b"),
        (written.path(), "new", "c"),
        (committed.path(), "gone", "d"),
    ] {
        fs::create_dir_all(dir.join("t"))?;
        fs::write(dir.join("t").join(name), bytes)?;
    }
    let mut found = differences(committed.path(), written.path())?;
    found.sort();
    let at = |what: &str, name: &str| {
        let path = committed.path().join("t").join(name);
        format!("{what}: {}", path.display())
    };
    let mut expected = vec![
        at("not committed", "new"),
        at("out of date", "changed"),
        at("no longer written", "gone"),
    ];
    expected.sort();
    assert_eq!(found, expected);
    // A committed folder that is not there: every written file is not committed.
    let absent = committed.path().join("absent");
    let found = differences(&absent, written.path())?;
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        found.iter().all(|l| l.starts_with("not committed: ")),
        "{found:?}"
    );
    Ok(())
}
