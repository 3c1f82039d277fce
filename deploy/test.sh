#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing (Debian packages, rustup
# targets, the Nisshi broker, the librdkafka peer), then format and lint checks, unit and
# integration tests (each integration test starts its own broker), the static binaries of both
# architectures serving in an empty root, the deploy files, cargo deny, and 10 seconds of
# fuzzing per target.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."
start=$(date +%s)
# A one-off build gains nothing from incremental caches, which double the size of target/.
export CARGO_INCREMENTAL=0
step() { say "== $* ($(($(date +%s) - start)) s)"; }

step "installing what is missing"
"$here/install-deps.sh"

step "cargo fmt --check"
cargo fmt --all -- --check

step "module graph: no import cycles between top-level modules"
python3 "$here/modgraph.py" src

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets --quiet -- -D warnings

step "unit and integration tests (real Nisshi broker, librdkafka peer)"
cargo test --locked --all-targets

step "API contract: schemathesis against the OpenAPI document (positive, negative, stateful)"
"$here/api-contract.sh"

step "static musl binaries (x86_64, aarch64 under qemu), each serving in an empty root"
"$here/check-static.sh"

step "container and Kubernetes files (static checks: no Docker engine here)"
"$here/check-deploy.sh"

step "cargo deny (licenses, bans, sources, advisories when reachable)"
"$here/deny.sh"

step "fuzz smoke: every target for 10 s"
"$here/fuzz.sh" 10

step "all checks passed"
