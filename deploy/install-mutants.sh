#!/usr/bin/env bash
# Installs cargo-mutants (the mutation testing of deploy/mutants.sh) into the tools cache, only
# when missing. The binary is $TOOLS/cargo-mutants-$CARGO_MUTANTS_VERSION/bin/cargo-mutants.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

CARGO_MUTANTS_VERSION=27.1.0
cargo_tool cargo-mutants "$CARGO_MUTANTS_VERSION"
