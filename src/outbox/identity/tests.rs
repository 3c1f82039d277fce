use std::fs;

use super::*;

#[test]
fn the_id_is_created_once_and_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let first = load_or_create(dir.path()).unwrap();
    assert!(first < 1 << 63, "positive as a Java long");
    assert_eq!(load_or_create(dir.path()).unwrap(), first);
    let other = tempfile::tempdir().unwrap();
    assert_ne!(load_or_create(other.path()).unwrap(), first);
}

#[test]
fn a_corrupt_id_file_is_an_error_not_a_new_identity() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("producer.id"), "not a number").unwrap();
    assert!(load_or_create(dir.path()).is_err());
}
