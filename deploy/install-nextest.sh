#!/usr/bin/env bash
# Makes cargo-nextest available (the test runner of deploy/test.sh, with per-test time limits
# from .config/nextest.toml): the machine's own when it is recent enough, else built into the
# tools cache once per machine. Prints the directory to put first on PATH, or nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

NEXTEST_VERSION=0.9.143
# The oldest release that reads .config/nextest.toml as written (its nextest-version, fail-fast
# with terminate = "immediate", per-test overrides, threads-required).
NEXTEST_MIN=0.9.143

have=$( { cargo nextest --version 2>/dev/null || true; } | sed -n 's/^cargo-nextest \([0-9.]*\).*/\1/p' | head -n 1)
if [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$NEXTEST_MIN" "$have" | sort -V | head -n 1)" = "$NEXTEST_MIN" ]; then
    exit 0
fi
cargo_tool cargo-nextest "$NEXTEST_VERSION"
echo "$TOOLS/cargo-nextest-$NEXTEST_VERSION/bin"
