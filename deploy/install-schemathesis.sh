#!/usr/bin/env bash
# Installs schemathesis (property-based API tester driven by the OpenAPI document) from PyPI
# into its own venv in the tools cache ($TOOLS/schemathesis-venv), only when missing, and says
# what it does; quiet when it is already there. Used by deploy/api-contract.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

SCHEMATHESIS_VERSION=4.32.5
ST_VENV="$TOOLS/schemathesis-venv"

# shellcheck disable=SC2046 # venv_pkg prints nothing or one word
apt_install $(venv_pkg)

stamp="$ST_VENV/.installed-$SCHEMATHESIS_VERSION"
if [ -f "$stamp" ] && [ -x "$ST_VENV/bin/schemathesis" ]; then
    exit 0
fi
say "installing schemathesis $SCHEMATHESIS_VERSION into $ST_VENV"
mkdir -p "$TOOLS"
rm -rf "$ST_VENV"
python3 -m venv "$ST_VENV"
log=$(mktemp)
if ! "$ST_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" >"$log" 2>&1; then
    cat "$log" >&2
    die "installing schemathesis failed"
fi
rm -f "$log"
say "schemathesis: $("$ST_VENV/bin/schemathesis" --version)"
touch "$stamp"
