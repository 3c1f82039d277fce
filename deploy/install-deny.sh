#!/usr/bin/env bash
# Installs cargo-deny (licence, ban, source and advisory checks of the dependency graph) into the
# tools cache, only when missing. The binary is $TOOLS/cargo-deny-$CARGO_DENY_VERSION/bin/cargo-deny.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

CARGO_DENY_VERSION=0.20.2
cargo_tool cargo-deny "$CARGO_DENY_VERSION"
