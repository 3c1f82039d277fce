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
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    // Where branch heads live after `git pack-refs` or a gc.
    println!("cargo:rerun-if-changed=.git/packed-refs");
}
