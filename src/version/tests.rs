#[test]
fn long_version_names_version_and_commit() {
    assert!(super::LONG.starts_with(super::VERSION));
    assert!(super::LONG.contains(env!("USERCENTER_GIT_COMMIT")));
}
