# Shared helpers for the deploy/ scripts. Source it; do not run it.
# Everything installed goes under $USERCENTER_CACHE (default ~/.cache/usercenter), outside the clone,
# so a fresh clone on the same machine reuses it.

USERCENTER_CACHE=${USERCENTER_CACHE:-"$HOME/.cache/usercenter"}
TOOLS="$USERCENTER_CACHE/tools"
NISSHI_VERSION=0.8.1
NISSHI_BIN="$TOOLS/nisshi-$NISSHI_VERSION/bin/nisshi"
PEER_VENV="$TOOLS/peer-venv"
PEER_PY="$PEER_VENV/bin/python"

say() { printf '[usercenter] %s\n' "$*" >&2; }
die() { printf '[usercenter] error: %s\n' "$*" >&2; exit 1; }

# A loopback port nothing listens on (right now).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Installs those of the Debian packages "$@" that are missing (with sudo when not root), and
# says which; does nothing when all are there.
apt_install() {
    local need=() pkg log sudo=""
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
    done
    [ ${#need[@]} -gt 0 ] || return 0
    say "installing Debian packages: ${need[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null ||
            die "installing ${need[*]} needs root: run this as root, or install sudo and allow this user to use it"
        sudo=sudo
    fi
    log=$(mktemp)
    # `env` after sudo: sudo resets the environment, DEBIAN_FRONTEND would not reach apt-get.
    if ! { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${need[@]}"; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "installing ${need[*]} failed"
    fi
    rm -f "$log"
}

# Prints python3-venv when Python is Debian's own and lacks venv (a pyenv or python.org Python
# has it built in).
venv_pkg() {
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || echo python3-venv
}

# Builds the crates.io tool $1 at version $2 into $TOOLS/$1-$2 (once per machine; its binary is
# then $TOOLS/$1-$2/bin/$1), with a log in $TOOLS/$1-build.log.
cargo_tool() {
    local name=$1 version=$2 root="$TOOLS/$1-$2" log="$TOOLS/$1-build.log"
    [ -x "$root/bin/$name" ] && return 0
    say "building $name $version into $root (a few minutes, once per machine)"
    mkdir -p "$TOOLS"
    # A build directory of its own, removed after: a CARGO_TARGET_DIR set for the crate (the
    # test suite's) would otherwise take the tool's build into the crate's cache.
    if ! CARGO_TARGET_DIR="$root.build" cargo install "$name" --version "$version" --locked \
        --root "$root" >"$log" 2>&1; then
        rm -rf "$root.build"
        tail -n 30 "$log" >&2
        die "building $name failed; full log in $log"
    fi
    rm -rf "$root.build"
}

# Installs the PyPI packages $3… into the venv $1 (once per machine: $1/.installed-$2 marks it
# done), saying what it does and showing pip's log only on failure. $2 names the versions.
pip_venv() {
    local venv=$1 stamp="$1/.installed-$2" log
    shift 2
    [ -f "$stamp" ] && [ -x "$venv/bin/python" ] && return 0
    say "installing $* into $venv"
    mkdir -p "$TOOLS"
    rm -rf "$venv"
    python3 -m venv "$venv"
    log=$(mktemp)
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "installing $* failed"
    fi
    rm -f "$log"
    touch "$stamp"
}

# The nightly toolchain of the broker and fuzz builds, pinned so that a new machine builds what
# CI built and the cached builds keyed by it stay valid. Move it deliberately, with both builds.
NIGHTLY=nightly-2026-05-20

# Installs the pinned nightly (minimal profile) when it is missing.
ensure_nightly() {
    rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1 && return 0
    say "installing the Rust toolchain $NIGHTLY (broker and fuzz builds; once per machine)"
    rustup toolchain install "$NIGHTLY" --profile minimal >/dev/null ||
        die "installing $NIGHTLY failed"
}

# Where cargo builds: $CARGO_TARGET_DIR when set (use_target_cache sets it), else ./target.
target_dir() {
    echo "${CARGO_TARGET_DIR:-target}"
}

# The toolchain rustup picks in this folder (the machine's default; there is no toolchain file).
active_toolchain() {
    rustup show active-toolchain | cut -d' ' -f1
}

# use_target_cache NAME TOOLCHAIN LOCKFILE: exports CARGO_TARGET_DIR as a build directory in
# $USERCENTER_CACHE/target/, outside the clone, so that the next clone on this machine reuses
# the dependency builds. The directory is keyed by the toolchain's version and the lock file,
# so a toolchain or dependency change starts a new one instead of mixing builds. Bounded: of a
# NAME's directories only the two used last are kept (so about twice
# $USERCENTER_TARGET_CACHE_GB at most per NAME), and the one about to be used is emptied first
# when it grew past $USERCENTER_TARGET_CACHE_GB (default 40). Two runs of different lock files
# at once on one machine may sweep each other's directory: run one at a time.
use_target_cache() {
    local name=$1 toolchain=$2 lock=$3 key dir old size limit=${USERCENTER_TARGET_CACHE_GB:-40}
    local version
    version=$(rustc "+$toolchain" -vV) || die "no working Rust toolchain '$toolchain' for the build cache key"
    [ -f "$lock" ] || die "$lock is missing"
    key=$( { echo "$version"; cat "$lock"; } | sha256sum | cut -c1-16)
    dir="$USERCENTER_CACHE/target/$name-$key"
    mkdir -p "$dir"
    touch "$dir"
    # Sweep: every directory of this NAME but the two used last.
    ls -1dt "$USERCENTER_CACHE/target/$name-"* 2>/dev/null | tail -n +3 | while read -r old; do
        say "removing the unused build cache $old"
        rm -rf "$old"
    done
    size=$(du -s --block-size=1G "$dir" | cut -f1)
    if [ "$size" -gt "$limit" ]; then
        say "the build cache $dir holds $size GiB (limit $limit): emptying it"
        rm -rf "$dir" && mkdir -p "$dir"
    fi
    export CARGO_TARGET_DIR=$dir
}

# Says "$*" and, under deploy/test.sh, adds it to the notes of the run's closing summary.
note_summary() {
    say "$*"
    [ -z "${USERCENTER_NOTES:-}" ] || echo "$*" >>"$USERCENTER_NOTES"
}
