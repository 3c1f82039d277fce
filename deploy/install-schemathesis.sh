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

[ -x "$ST_VENV/bin/schemathesis" ] || rm -f "$ST_VENV"/.installed-*
pip_venv "$ST_VENV" "$SCHEMATHESIS_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
