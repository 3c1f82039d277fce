//! The version line and the build info, checked against the values they stand for: the
//! version in Cargo.toml, the commit of this checkout, the target the tests run on, and what
//! `usercenter --version` and `/metrics` really print.
use std::{process::Command, sync::Arc, time::Duration};

use clap::CommandFactory as _;

/// `package.version` of Cargo.toml.
fn manifest_version() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let text = std::fs::read_to_string(path).expect("read Cargo.toml");
    let manifest: toml::Table = text.parse().expect("Cargo.toml is TOML");
    manifest["package"]["version"]
        .as_str()
        .expect("package.version")
        .to_owned()
}

/// The commit the build should have recorded, found as build.rs is documented to find it: a
/// commit given in `USERCENTER_GIT_COMMIT`, else git's `HEAD` in this checkout, else `unknown`.
fn checkout_commit() -> String {
    if let Ok(given) = std::env::var("USERCENTER_GIT_COMMIT")
        && !given.is_empty()
        && given != "unknown"
    {
        return given;
    }
    Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// `LONG` cut into its version, commit and target.
fn long_parts() -> (String, String, String) {
    let (version, rest) = super::LONG
        .split_once(" (commit ")
        .expect("`(commit ` in LONG");
    let (commit, rest) = rest.split_once("; target ").expect("`; target ` in LONG");
    let (target, rest) = rest
        .split_once("; features: ")
        .expect("`; features: ` in LONG");
    assert!(rest.ends_with(')'), "{}", super::LONG);
    (version.to_owned(), commit.to_owned(), target.to_owned())
}

#[test]
fn long_version_names_version_and_commit() {
    let (version, commit, _) = long_parts();
    assert_eq!(version, manifest_version(), "{}", super::LONG);
    assert_eq!(super::VERSION, version);
    let expected = checkout_commit();
    assert_eq!(
        commit,
        expected,
        "the commit in the version line is not this checkout's (a build script that did not \
         rerun, or HEAD moved while the tests ran): {}",
        super::LONG
    );
    assert_eq!(super::COMMIT, commit);
    if expected != "unknown" {
        assert!(
            commit.len() >= 12 && commit.chars().all(|c| c.is_ascii_hexdigit()),
            "{commit}"
        );
    }
    // What `usercenter --version` prints.
    let printed = crate::cli::Cli::command().render_long_version();
    assert_eq!(printed.trim_end(), format!("usercenter {}", super::LONG));
}

#[test]
fn build_info_labels_are_the_long_versions_parts() {
    let (version, commit, target) = long_parts();
    // The target is the one these tests run on.
    assert!(
        target.starts_with(std::env::consts::ARCH) && target.contains(std::env::consts::OS),
        "target {target}, running on {} {}",
        std::env::consts::ARCH,
        std::env::consts::OS
    );
    assert_eq!(super::TARGET, target);

    // The labels of `usercenter_build_info` as `/metrics` renders them.
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn crate::store::Store> =
        Arc::new(crate::store::RedbStore::open(dir.path()).expect("open a store"));
    let users = crate::users::Users::new(Arc::clone(&store), 1, "t", Duration::from_secs(60))
        .expect("users");
    let state = crate::http::AppState::new(store, Arc::new(users), 10, Vec::new());
    let text = state.render_metrics();
    let sample = text
        .lines()
        .find(|l| l.starts_with("usercenter_build_info{"))
        .unwrap_or_else(|| panic!("no usercenter_build_info sample in\n{text}"));
    let (labels, value) = sample
        .strip_prefix("usercenter_build_info{")
        .and_then(|l| l.split_once("} "))
        .expect("labels and a value");
    assert_eq!(value, "1", "{sample}");
    let labels: Vec<(&str, &str)> = labels
        .split(',')
        .map(|l| {
            let (name, value) = l.split_once('=').expect("name=value");
            (name, value.trim_matches('"'))
        })
        .collect();
    assert_eq!(
        labels,
        [
            ("version", version.as_str()),
            ("commit", commit.as_str()),
            ("target", target.as_str()),
        ],
        "{sample}"
    );
}
