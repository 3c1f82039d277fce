//! What `usercenter --version` prints: the crate version, the git commit and the enabled features.

/// The crate version from `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from (`unknown` outside a git checkout).
pub const GIT_COMMIT: &str = env!("USERCENTER_GIT_COMMIT");
/// The long version line: version, commit and the compiled-in features.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("USERCENTER_GIT_COMMIT"),
    "; features: codecs=none,gzip,snappy,lz4,zstd store=embedded)"
);

#[cfg(test)]
mod tests {
    #[test]
    fn long_version_names_version_and_commit() {
        assert!(super::LONG.starts_with(super::VERSION));
        assert!(super::LONG.contains(super::GIT_COMMIT));
    }
}
