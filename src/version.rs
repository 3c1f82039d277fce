//! What `usercenter --version` prints: the crate version, the git commit and the enabled features;
//! the same version, commit and target label `usercenter_build_info` on `/metrics`.

/// The crate version from `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from (`unknown` outside a git checkout).
pub const COMMIT: &str = env!("USERCENTER_GIT_COMMIT");
/// The target triple the binary was built for.
pub const TARGET: &str = env!("USERCENTER_TARGET");
/// The long version line: version, the git commit the binary was built from (`unknown` outside
/// a git checkout), target and the compiled-in features.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("USERCENTER_GIT_COMMIT"),
    "; target ",
    env!("USERCENTER_TARGET"),
    "; features: codecs=none,gzip,snappy,lz4,zstd tls=rustls-ring sasl=plain,scram-sha-256,scram-sha-512 store=embedded-redb,postgresql)"
);

#[cfg(test)]
mod tests;
