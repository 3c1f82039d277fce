#!/usr/bin/env bash
# Installs PostgreSQL's server binaries (initdb, pg_ctl, postgres) when no version 13 or later
# is found, for the PostgreSQL backend's tests (testkit/src/postgres.rs starts a private
# cluster: initdb in a temporary directory, a free loopback port, stopped by pid).
# The tests use only the binaries. Debian's package also creates its "main" cluster on port
# 5432, which a systemd host starts and starts at boot; the tests never use it (on such a host
# `sudo systemctl disable --now postgresql` stops it, if it is not wanted).
# Idempotent and quiet when PostgreSQL is already there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

found=""
for bin in /usr/lib/postgresql/*/bin; do
    version=$(basename "$(dirname "$bin")")
    if [[ "$version" =~ ^[0-9]+$ ]] && [ "$version" -ge 13 ] && [ -x "$bin/initdb" ] && [ -x "$bin/postgres" ]; then
        found="$bin"
    fi
done
if [ -n "$found" ]; then
    exit 0
fi
if command -v initdb >/dev/null && command -v pg_ctl >/dev/null \
    && [ "$(initdb --version | sed -E 's/.* ([0-9]+).*/\1/')" -ge 13 ]; then
    exit 0
fi
say "PostgreSQL >= 13 not found: installing Debian's postgresql package (server binaries for the tests)"
apt_install postgresql
