#!/usr/bin/env bash
# Installs cargo-fuzz (with the nightly toolchain it needs) into the tools cache, only when missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

CARGO_FUZZ_VERSION=0.13.2
if ! rustup toolchain list | grep -q '^nightly'; then
    say "installing the nightly Rust toolchain (libFuzzer needs it)"
    rustup toolchain install nightly --profile minimal
fi
cargo_tool cargo-fuzz "$CARGO_FUZZ_VERSION"
