#!/usr/bin/env bash
# Installs everything the service and its tests need, only what is missing, and says what it does:
# Debian packages, rustup targets and components, the Nisshi broker, the peer client.
# Quiet when everything is already there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# Debian packages: musl-tools (musl-gcc for the C parts of the codecs, mimalloc and ring in
# the x86_64 static build), gcc-aarch64-linux-gnu (the same for the aarch64 cross build),
# qemu-user-static (runs the aarch64 binary in the tests), file (checks the static binaries),
# python3-venv where Python is Debian's own.
need_pkgs=()
for pkg in musl-tools gcc-aarch64-linux-gnu qemu-user-static file; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$pkg")
done
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    need_pkgs+=(python3-venv)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
    say "installing Debian packages: ${need_pkgs[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    log=$(mktemp)
    if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends "${need_pkgs[@]}"; } >"$log" 2>&1; then
        cat "$log" >&2
        die "installing ${need_pkgs[*]} failed"
    fi
    rm -f "$log"
fi

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
"$here/install-peer.sh"
