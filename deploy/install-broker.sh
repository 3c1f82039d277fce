#!/usr/bin/env bash
# Installs the Nisshi broker (Kafka-compatible, pure Rust) into the tools cache, only when missing.
# Nisshi 0.8.1 needs rustc >= 1.96, so it is built with the pinned nightly ($NIGHTLY, lib.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if [ -x "$NISSHI_BIN" ]; then
    exit 0
fi
ensure_nightly
root="$TOOLS/nisshi-$NISSHI_VERSION"
say "building the Nisshi $NISSHI_VERSION broker into $root (about 11 minutes on 2 cores, once per machine)"
log="$TOOLS/nisshi-build.log"
mkdir -p "$TOOLS"
# A private target dir keeps a half-finished build resumable after an interruption.
if ! CARGO_TARGET_DIR="$TOOLS/nisshi-target" cargo "+$NIGHTLY" install nisshi --version "$NISSHI_VERSION" \
    --locked --no-default-features --features dynostore,libsql --root "$root" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "building the broker failed; full log in $log"
fi
rm -rf "$TOOLS/nisshi-target"
say "broker installed: $NISSHI_BIN"
