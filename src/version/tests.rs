#[test]
fn long_version_names_version_and_commit() {
    assert!(super::LONG.starts_with(super::VERSION));
    assert!(super::LONG.contains(env!("USERCENTER_GIT_COMMIT")));
}

#[test]
fn build_info_labels_are_the_long_versions_parts() {
    assert!(super::LONG.contains(&format!("commit {}", super::COMMIT)));
    assert!(super::LONG.contains(&format!("target {}", super::TARGET)));
}
