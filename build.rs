//! Records the git commit and target the binary is built for, for `usercenter --version`.
use std::process::Command;

fn main() {
    // A build without .git (the container image's) passes the commit in the environment.
    println!("cargo:rerun-if-env-changed=USERCENTER_GIT_COMMIT");
    let given = std::env::var("USERCENTER_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty() && c != "unknown");
    let commit = given.or_else(|| {
        Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    });
    let commit = commit.unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=USERCENTER_GIT_COMMIT={commit}");
    // The target triple the binary is built for (`x86_64-unknown-linux-musl`, ...).
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=USERCENTER_TARGET={target}");
    // Where the commit can change: the head, the branch heads, and where branch heads live
    // after `git pack-refs` or a gc. Only paths that exist: cargo runs a build script whose
    // watched path is missing on every build, and the crate is then compiled again each time.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    // Without any of them (a source tarball), a change of build.rs alone runs it again.
    println!("cargo:rerun-if-changed=build.rs");
}
