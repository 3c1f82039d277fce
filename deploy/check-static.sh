#!/usr/bin/env bash
# Builds the x86_64 musl release binary and checks that it is static: `file` says so, `ldd` finds
# nothing dynamic, and it prints its version inside an empty root folder holding only itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

target=x86_64-unknown-linux-musl
say "building the static release binary ($target)"
cargo build --release --locked --target "$target" --quiet
bin="target/$target/release/usercenter"

info=$(file -L "$bin")
case "$info" in
*"statically linked"* | *"static-pie linked"*) ;;
*) die "not a static binary: $info" ;;
esac
if ldd "$bin" >/dev/null 2>&1 && ! ldd "$bin" 2>&1 | grep -q 'not a dynamic executable\|statically linked'; then
    die "ldd lists dynamic dependencies: $(ldd "$bin" 2>&1)"
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
cp "$bin" "$root/usercenter"
if [ "$(id -u)" -eq 0 ]; then
    version=$(chroot "$root" /usercenter --version)
else
    version=$(unshare --map-root-user --root "$root" /usercenter --version)
fi
[[ "$version" == usercenter* ]] || die "empty-root run printed: $version"
size=$(stat -c %s "$bin")
say "static binary ok: $bin, $((size / 1024)) KiB, in an empty root: $version"
