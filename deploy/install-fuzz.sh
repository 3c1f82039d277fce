#!/usr/bin/env bash
# Installs cargo-fuzz (with the nightly toolchain it needs) into the tools cache, only when missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

CARGO_FUZZ_VERSION=0.13.2
root="$TOOLS/cargo-fuzz-$CARGO_FUZZ_VERSION"
if [ -x "$root/bin/cargo-fuzz" ]; then
    exit 0
fi
if ! rustup toolchain list | grep -q '^nightly'; then
    say "installing the nightly Rust toolchain (libFuzzer needs it)"
    rustup toolchain install nightly --profile minimal
fi
say "building cargo-fuzz $CARGO_FUZZ_VERSION into $root (a few minutes, once per machine)"
mkdir -p "$TOOLS"
log="$TOOLS/cargo-fuzz-build.log"
if ! cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$root" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "building cargo-fuzz failed; full log in $log"
fi
