#!/usr/bin/env bash
# Installs everything the service and its tests need, only what is missing, and says what it does:
# Debian packages, rustup targets and components, the Nisshi broker, the peer client.
# Quiet when everything is already there.
#
# With `run` (deploy/run.sh), only what running the service needs: a C compiler and linker, the
# broker, and Python with the peer client, with which broker.sh finds a free port and waits for
# the broker to answer.
# The rest (cross compilers, qemu, PostgreSQL's server) is for the tests and the static builds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if [ "${1:-}" = run ]; then
    # shellcheck disable=SC2046 # venv_pkg prints nothing or one word
    apt_install build-essential python3 $(venv_pkg)
    "$here/install-broker.sh"
    exec "$here/install-peer.sh"
fi

# Debian packages: build-essential (the C and C++ compilers and the linker every Rust build
# here needs: zstd, lz4, mimalloc and ring compile C, libFuzzer C++), musl-tools (musl-gcc
# for the C parts of the codecs, mimalloc and ring in the x86_64 static build),
# gcc-aarch64-linux-gnu and libc6-dev-arm64-cross (compiler and C
# headers for the aarch64 cross build; the headers are only a Recommends),
# qemu-user-static (runs the aarch64 binary in the tests), file (checks the static binaries),
# iproute2 (`ip`: the tests' network namespaces), procps (`kill`: the tests' SIGKILL and
# SIGSTOP of processes), curl (the API contract step), python3-venv where Python is Debian's
# own. A minimal Debian image has neither iproute2 nor procps.
# shellcheck disable=SC2046 # venv_pkg prints nothing or one word
apt_install build-essential musl-tools gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static file \
    iproute2 procps curl $(venv_pkg)

# Rust: the musl targets of the static binaries; rustfmt and clippy for the checks.
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    if ! rustup target list --installed | grep -qx "$target"; then
        say "adding rustup target $target"
        rustup target add "$target"
    fi
done
for comp in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$comp"; then
        say "adding rustup component $comp"
        rustup component add "$comp"
    fi
done

"$here/install-broker.sh"
"$here/install-postgres.sh"
"$here/install-peer.sh"
