//! The committed seeds and dictionaries (`fuzz/seeds`, `fuzz/dicts`) are what this example
//! writes from the code now: a config key, request field, status or wire format that changes
//! without them being written again fails here (`cargo test --examples`, a step of the test
//! command), naming the files that differ.
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

/// Every file under `root`, by its path relative to `root`, with its bytes.
fn files(root: &Path) -> std::io::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir)? {
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

/// What differs between the `committed` tree and the `written` one, one line per file.
fn differences(committed: &Path, written: &Path) -> std::io::Result<Vec<String>> {
    let (old, new) = (files(committed)?, files(written)?);
    let mut lines = Vec::new();
    for (path, bytes) in &new {
        match old.get(path) {
            None => lines.push(format!("missing: {}", committed.join(path).display())),
            Some(was) if was != bytes => {
                lines.push(format!("out of date: {}", committed.join(path).display()))
            }
            Some(_) => {}
        }
    }
    for path in old.keys().filter(|p| !new.contains_key(*p)) {
        lines.push(format!(
            "no longer written: {}",
            committed.join(path).display()
        ));
    }
    Ok(lines)
}

#[test]
fn committed_seeds_and_dictionaries_are_current() -> std::io::Result<()> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let scratch = tempfile::tempdir()?;
    let dicts = super::write_all(&scratch.path().join("seeds"))?;
    let mut stale = differences(&fuzz.join("seeds"), &scratch.path().join("seeds"))?;
    stale.extend(differences(&fuzz.join("dicts"), &dicts)?);
    assert!(
        stale.is_empty(),
        "the committed fuzz seeds or dictionaries are not what the code writes now; write them \
         again with `cargo run --example fuzz_seeds -- fuzz/seeds` and commit them:\n{}",
        stale.join("\n")
    );
    Ok(())
}

#[test]
fn a_changed_missing_or_extra_file_is_named() -> std::io::Result<()> {
    let (old, new) = (tempfile::tempdir()?, tempfile::tempdir()?);
    for (dir, name, bytes) in [
        (old.path(), "same", "x"),
        (new.path(), "same", "x"),
        (old.path(), "changed", "a"),
        (new.path(), "changed", "b"),
        (new.path(), "added", "c"),
        (old.path(), "dropped", "d"),
    ] {
        fs::create_dir_all(dir.join("t"))?;
        fs::write(dir.join("t").join(name), bytes)?;
    }
    let mut found = differences(old.path(), new.path())?;
    found.sort();
    let named =
        |what: &str, name: &str| format!("{what}: {}", old.path().join("t").join(name).display());
    let mut expected = vec![
        named("missing", "added"),
        named("out of date", "changed"),
        named("no longer written", "dropped"),
    ];
    expected.sort();
    assert_eq!(found, expected);
    Ok(())
}
