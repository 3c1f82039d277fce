#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer and AddressSanitizer (cargo-fuzz, pinned nightly) and
# replays or fuzzes them.
#
#   deploy/fuzz.sh --replay [TARGET...]                  # each target once over its committed seeds
#   deploy/fuzz.sh [SECONDS] [TARGET...] [-- FLAG...]    # fuzz: default 600 s each, every target
#
# Only the targets named are built (every target when none is). FLAGs after `--` go to
# libFuzzer as they are (`-dict=FILE`, `-only_ascii=1`, ...). A target with a dictionary
# (fuzz/dicts/TARGET.dict, written with the seeds) fuzzes with it unless a FLAG names another;
# `-dict=none` fuzzes without one. --replay loads each dictionary too, so a malformed one fails
# the test command.
#
# --replay is the test suite's step: every target is built with its sanitizer and each committed
# seed (fuzz/seeds/TARGET) is run once through the built binary, so a seed that crashes, leaks
# or trips the sanitizer fails the step. Fuzzing starts from the same seeds and keeps what it
# finds in fuzz/corpus/TARGET (not committed). Memory is capped at 512 MiB (-rss_limit_mb) and
# inputs at 64 KiB (-max_len); an input that runs longer than 30 s is a failure (-timeout). A crash stops the run and leaves its input in
# fuzz/artifacts/TARGET and the fuzzer's whole output in fuzz/artifacts/TARGET/fuzz.log. Targets
# are built optimised with debug assertions and overflow checks on (-O -a), so an integer that
# overflows on input is a crash. Builds go to a cache outside the clone (lib.sh,
# use_target_cache), which other clones share: each run copies the binaries it built to a
# folder of its own, under a lock, so another clone's build cannot swap them mid-run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/../fuzz"

replay=no
if [ "${1:-}" = --replay ]; then
    replay=yes
    shift
    seconds=0
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
    [ "$seconds" -gt 0 ] || die "SECONDS must be at least 1 (deploy/fuzz.sh [SECONDS] [TARGET...] [-- FLAG...])"
else
    seconds=600
fi
targets=()
extra=()
while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then
        shift
        extra=("$@")
        break
    fi
    targets+=("$1")
    shift
done
[ "$replay" = no ] || [ ${#extra[@]} -eq 0 ] || die "--replay takes no libFuzzer flags"
named=${#targets[@]}
for t in "${targets[@]}"; do
    grep -qxF "name = \"$t\"" Cargo.toml && [ "$t" != usercenter-fuzz ] \
        || die "$t: no such fuzz target in fuzz/Cargo.toml (deploy/fuzz.sh [SECONDS] [TARGET...] [-- FLAG...])"
done
if [ "$named" -eq 0 ]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -vx usercenter-fuzz)
    # Every [[bin]] section named, so that a manifest written another way fails here rather
    # than replaying fewer targets (or none) and passing.
    bins=$(grep -c '^\[\[bin\]\]' Cargo.toml || true)
    [ "${#targets[@]}" -gt 0 ] && [ "${#targets[@]}" -eq "$bins" ] \
        || die "found ${#targets[@]} target names for $bins [[bin]] sections in fuzz/Cargo.toml"
fi
"$here/install-fuzz.sh"
fuzz_version=$(sed -n 's/^CARGO_FUZZ_VERSION=//p' "$here/install-fuzz.sh")
export PATH="$TOOLS/cargo-fuzz-$fuzz_version/bin:$PATH"
use_target_cache fuzz "$NIGHTLY" Cargo.lock
log="$TOOLS/fuzz-build.log"
say "building ${#targets[@]} fuzz target(s) ($NIGHTLY, AddressSanitizer) in $CARGO_TARGET_DIR"
# Locked like the crate: cargo-fuzz has no --locked, so a locked fetch first fails on a
# fuzz/Cargo.lock that does not match the manifests, before cargo fuzz could rewrite it.
cargo "+$NIGHTLY" fetch --locked --quiet 2>"$log" || { cat "$log" >&2; die "fuzz/Cargo.lock is stale: run cargo +$NIGHTLY fetch in fuzz/ and commit it"; }
built_after=$(mktemp)
trap 'rm -f "$built_after"' EXIT
# The build and the copy of its binaries hold the cache's lock: another clone's build waits.
# (Not beside the build folders, whose sweep would take it for one; not inherited by the build,
# whose lingering helpers would hold it.)
mkdir -p "$USERCENTER_CACHE/locks"
exec 8>"$USERCENTER_CACHE/locks/fuzz-build.lock"
flock 8
if [ "$named" -eq 0 ]; then
    cargo "+$NIGHTLY" fuzz build -O -a --target-dir "$CARGO_TARGET_DIR" >/dev/null 2>"$log" 8>&- || { tail -n 30 "$log" >&2; die "fuzz build failed"; }
else
    for t in "${targets[@]}"; do
        cargo "+$NIGHTLY" fuzz build -O -a --target-dir "$CARGO_TARGET_DIR" "$t" >/dev/null 2>"$log" 8>&- || { tail -n 30 "$log" >&2; die "fuzz build of $t failed"; }
    done
fi
bin_dir="$CARGO_TARGET_DIR/$(rustc "+$NIGHTLY" -vV | sed -n 's/^host: //p')/release"
# fuzz/ is a workspace of its own, so the crate (..) is a path dependency outside it, and cargo
# names its artifacts after the clone's absolute path: a clone at a new path (every CI run)
# builds a new set beside the earlier ones, about 2.5 GB, which no cache key change sweeps.
# What this build did not make goes: a target binary the build linked is a hard link of
# $bin_dir/TARGET, any other copy is an earlier build's; the crate's own artifacts older than
# this build, when it made them anew.
mapfile -t all_targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -vx usercenter-fuzz)
for t in "${all_targets[@]}"; do
    find "$bin_dir/deps" -maxdepth 1 -type f -name "$t-*" ! -name '*.*' -links 1 -delete
done
if [ -n "$(find "$bin_dir/deps" -maxdepth 1 -name 'libusercenter-*' -newer "$built_after" -print -quit)" ]; then
    find "$bin_dir/deps" -maxdepth 1 -name 'libusercenter-*' ! -newer "$built_after" -delete
fi
rm -f "$built_after"
# This run's binaries, apart from the shared cache: hard links (a rebuild writes new files, so
# these keep what this run built), beside the cache on its file system.
mkdir -p "$USERCENTER_CACHE/runs"
own_bins=$(mktemp -d "$USERCENTER_CACHE/runs/fuzz.XXXXXX")
trap 'rm -rf "$own_bins"' EXIT
for t in "${targets[@]}"; do
    [ -x "$bin_dir/$t" ] || die "$t: not built ($bin_dir/$t missing)"
    ln "$bin_dir/$t" "$own_bins/$t" 2>/dev/null || cp "$bin_dir/$t" "$own_bins/$t"
done
flock -u 8
exec 8>&-
bin_dir=$own_bins

for t in "${targets[@]}"; do
    [ -d "seeds/$t" ] || die "$t: no seed directory fuzz/seeds/$t (commit at least one seed input)"
    run_log=$(mktemp)
    # Removed on every way out, a failing target's die included.
    trap 'rm -f "$run_log"; rm -rf "$own_bins"' EXIT
    # The target's own dictionary, unless a flag names another or none.
    dict=()
    if [ -f "dicts/$t.dict" ] && ! printf '%s\n' "${extra[@]}" | grep -q '^-dict='; then
        dict=("-dict=dicts/$t.dict")
    fi
    if [ "$replay" = yes ]; then
        mapfile -t seeds < <(find "seeds/$t" -type f | sort)
        [ ${#seeds[@]} -gt 0 ] || die "$t: fuzz/seeds/$t is empty"
        # Inputs named on the command line run once each, without fuzzing; libFuzzer parses
        # the dictionary first and stops on a line it cannot read.
        if ! "$bin_dir/$t" -rss_limit_mb=512 -timeout=30 "${dict[@]}" "${seeds[@]}" >"$run_log" 2>&1; then
            tail -n 40 "$run_log" >&2
            ! grep -q '^ParseDictionaryFile' "$run_log" || die "$t: fuzz/dicts/$t.dict is malformed (see above)"
            die "$t: a committed seed fails (see above)"
        fi
        ran=$(grep -c '^Executed ' "$run_log" || true)
        [ "$ran" -eq ${#seeds[@]} ] || { tail -n 20 "$run_log" >&2; die "$t: ran $ran of ${#seeds[@]} seeds"; }
        say "$t: ${#seeds[@]} seeds replayed"
    else
        mkdir -p "corpus/$t" "artifacts/$t"
        flags=()
        for f in "${extra[@]}"; do
            [ "$f" = -dict=none ] || flags+=("$f")
        done
        say "fuzzing $t for ${seconds} s${dict:+ with ${dict[0]#-dict=}}"
        if ! "$bin_dir/$t" "corpus/$t" "seeds/$t" -artifact_prefix="artifacts/$t/" \
            -max_total_time="$seconds" -rss_limit_mb=512 -timeout=30 -max_len=65536 -print_final_stats=1 \
            "${dict[@]}" "${flags[@]}" >"$run_log" 2>&1; then
            cp "$run_log" "artifacts/$t/fuzz.log"
            tail -n 40 "$run_log" >&2
            die "$t: the fuzzer stopped with a failure or was interrupted (input in fuzz/artifacts/$t, its whole output in fuzz/artifacts/$t/fuzz.log)"
        fi
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$run_log" | grep -o '[0-9]*$' || echo 0)
        speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$run_log" | grep -o '[0-9]*$' || echo 0)
        cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$run_log" | tail -n 1 || true)
        say "$t: ok, $execs runs, $speed exec/s, $cov"
    fi
    rm -f "$run_log"
done
