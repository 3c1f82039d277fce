#!/usr/bin/env bash
# Installs cargo-fuzz (with the pinned nightly toolchain it needs) into the tools cache, only when missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

CARGO_FUZZ_VERSION=0.13.2
ensure_nightly
cargo_tool cargo-fuzz "$CARGO_FUZZ_VERSION"
