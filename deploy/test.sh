#!/usr/bin/env bash
# The whole test suite, from a fresh machine. Installs what is missing (Debian packages, rustup
# targets, the pinned nightly, the Nisshi broker, PostgreSQL, the librdkafka peer, nextest), then,
# cheapest first so that a mistake fails within minutes:
#   doc paths, format, module graph, clippy; unit and integration tests under nextest (a real
#   broker per test, time limits in .config/nextest.toml); the benchmarks' smoke runs and the
#   examples' tests (the committed fuzz seeds and dictionaries are current); the API
#   contract (schemathesis); the static binaries of both architectures serving in an empty root;
#   the deploy files; cargo deny; every fuzz target built with its sanitizer, replaying its seeds.
# Builds go to a cache outside the clone ($USERCENTER_CACHE/target, lib.sh), so the next run on
# this machine rebuilds only this crate. Prints each step's time as a table at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."
# A one-off build gains nothing from incremental caches, which double the size of the build.
export CARGO_INCREMENTAL=0
# Said before anything is installed: tests make network namespaces (`ip netns`) and run the
# service as PID 1 of a PID namespace, which only root may do.
[ "$(id -u)" -eq 0 ] || die "the test suite runs as root: its tests make network and PID namespaces (run it as root, for example in a root shell or a CI job; deploy/run.sh runs as any user with sudo)"

summary=$(mktemp)
# Scripts add lines to the summary's notes through this file (deploy/deny.sh does).
USERCENTER_NOTES=$(mktemp)
export USERCENTER_NOTES
run_start=$(date +%s)
step_name=""
step_start=0

# Ends the running step, recording its time and outcome.
end_step() {
    [ -n "$step_name" ] || return 0
    printf '%s\t%s\t%s\n' "$step_name" "$(($(date +%s) - step_start))" "$1" >>"$summary"
    step_name=""
}
step() {
    end_step ok
    step_name=$*
    step_start=$(date +%s)
    say "== $* ($(($(date +%s) - run_start)) s)"
}
report() {
    local rc=$?
    end_step "$([ "$rc" -eq 0 ] && echo ok || echo FAILED)"
    {
        echo
        echo "| step | seconds | result |"
        echo "|---|---:|---|"
        awk -F'\t' '{ printf "| %s | %d | %s |\n", $1, $2, $3 }' "$summary"
        echo "| total | $(($(date +%s) - run_start)) | $([ "$rc" -eq 0 ] && echo "all checks passed" || echo "FAILED (exit $rc)") |"
        if [ -s "$USERCENTER_NOTES" ]; then
            echo
            sed 's/^/- /' "$USERCENTER_NOTES"
        fi
    } >&2
    rm -f "$summary" "$USERCENTER_NOTES"
}
trap report EXIT

step "installing what is missing"
"$here/install-deps.sh"
nextest_dir=$("$here/install-nextest.sh")
[ -z "$nextest_dir" ] || export PATH="$nextest_dir:$PATH"
toolchain=$(active_toolchain)
use_target_cache main "$toolchain" Cargo.lock
say "builds in $CARGO_TARGET_DIR"

step "doc paths: every src/, tests/, docs/, deploy/ path named in a *.md file exists"
python3 "$here/check-doc-paths.py"

step "cargo fmt --check"
cargo fmt --all -- --check

step "module graph: no import cycles between top-level modules"
python3 "$here/modgraph.py" src

step "rooms: unique public names, no function over 80 lines outside tests and data tables"
python3 "$here/rooms.py" src

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --locked --workspace --all-targets --quiet -- -D warnings

step "unit and integration tests under nextest (real Nisshi broker, PostgreSQL, librdkafka peer)"
cargo nextest run --locked --workspace --cargo-quiet

step "benchmarks' smoke runs and examples, the fuzz seeds current (cargo test --benches --examples, 10 minutes at most)"
timeout 600 cargo test --locked --benches --examples --quiet

step "API contract: schemathesis against the OpenAPI document (positive, negative, stateful)"
"$here/api-contract.sh"

step "static musl binaries (x86_64, aarch64 under qemu), each serving in an empty root"
"$here/check-static.sh"

step "container and Kubernetes files (static checks: no Docker engine here)"
"$here/check-deploy.sh"

step "cargo deny (licenses, bans, sources, advisories when reachable)"
"$here/deny.sh"

step "fuzz: every target built with AddressSanitizer, its committed seeds replayed"
"$here/fuzz.sh" --replay
