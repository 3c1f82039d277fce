#!/usr/bin/env bash
# Builds the static, stripped release binary for one musl target and prints its path on stdout.
#
#   deploy/build-static.sh [x86_64-unknown-linux-musl | aarch64-unknown-linux-musl]
#
# The C parts (zstd, lz4, mimalloc, ring) are compiled with musl-gcc for x86_64 and with Debian's
# aarch64 cross compiler (gcc-aarch64-linux-gnu) for aarch64, which also links: Rust's musl
# targets bring their own libc and start files, so the GNU cross toolchain only supplies the
# compiler and libgcc. deploy/install-deps.sh installs both and the rustup targets; the
# Dockerfile's build stage does the same.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

target=${1:-x86_64-unknown-linux-musl}
case "$target" in
x86_64-unknown-linux-musl)
    command -v musl-gcc >/dev/null || die "musl-gcc missing: apt-get install musl-tools"
    ;;
aarch64-unknown-linux-musl)
    command -v aarch64-linux-gnu-gcc >/dev/null ||
        die "aarch64-linux-gnu-gcc missing: apt-get install gcc-aarch64-linux-gnu"
    export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_musl=aarch64-linux-gnu-ar
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
    ;;
*) die "unsupported target $target (x86_64-unknown-linux-musl or aarch64-unknown-linux-musl)" ;;
esac
say "building the static release binary for $target"
cargo build --release --locked --target "$target" --quiet
echo "$(target_dir)/$target/release/usercenter"
