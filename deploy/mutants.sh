#!/usr/bin/env bash
# Mutation testing of the correctness core with cargo-mutants: the dedupe (Key::of, the marks,
# poison marks), the pass, the fence, the consumer's offsets, pruning, reset-offsets, the outbox's
# sequences and the relay (lease, cursor, hold after failure). Not part of deploy/test.sh or CI:
# it builds the crate once per mutant, an hour or more on two cores.
#
#   deploy/mutants.sh                  both runs below
#   deploy/mutants.sh unit             the unit-test run only: every file of .cargo/mutants.toml
#                                      against the lib's unit tests (no broker)
#   deploy/mutants.sh broker           the broker run only: reset-offsets' range logic
#                                      (src/ops/reset.rs `run`, `forget_range`, the `Reset` methods) against
#                                      tests/it/group/tools/ with a real Nisshi broker
#   deploy/mutants.sh unit -- ARGS     ARGS go to cargo-mutants (e.g. `-F fence` for the mutants
#                                      whose name matches, `--list` to list them)
#
# Each run ends with one line: mutants tested, caught, missed (of them, listed as equivalent),
# unviable, timeouts. The script fails when a missed mutant is not in
# deploy/mutants-equivalent.txt (one line per mutant as cargo-mutants names it, `# reason`).
# A timeout counts as caught (the tests did not pass); an equivalent that was not missed is
# reported, so that the list does not go stale.
#
# cargo-mutants mutates a scratch copy of the working tree (the files git tracks or would
# track), $(target_dir)/mutants/src, built into the usual target directory; its report is in
# $(target_dir)/mutants/<run>/mutants.out. The copy is a git repository of its own so that the
# build script's `rerun-if-changed=.git/...` paths exist: without them cargo runs build.rs and
# compiles the crate again on every call, twice per mutant.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

runs=(unit broker)
case "${1:-}" in
    unit | broker) runs=("$1"); shift ;;
    "" | --) ;;
    *) die "usage: deploy/mutants.sh [unit|broker] [-- CARGO-MUTANTS ARGS]" ;;
esac
[ "${1:-}" != -- ] || shift
extra=("$@")

"$here/install-mutants.sh"
version=$(sed -n 's/^CARGO_MUTANTS_VERSION=//p' "$here/install-mutants.sh")
mutants="$TOOLS/cargo-mutants-$version/bin/cargo-mutants"
[ -x "$mutants" ] || die "cargo-mutants $version is not at $mutants"
nextest_dir=$("$here/install-nextest.sh")
[ -z "$nextest_dir" ] || export PATH="$nextest_dir:$PATH"

mkdir -p "$(target_dir)"
work="$(cd "$(target_dir)" && pwd)/mutants"
src="$work/src"
say "copying the working tree to $src"
rm -rf "$src"
mkdir -p "$src"
# Tracked and untracked files, not the ignored ones; a tracked file deleted in the working
# tree is left out (tar says so).
git ls-files -z --cached --others --exclude-standard |
    tar --null -T - --ignore-failed-read -cf - | tar -xf - -C "$src"
git init -q "$src"
git -C "$src" pack-refs --all

equivalent="$here/mutants-equivalent.txt"
# The names listed as equivalent, without their reasons.
listed=$(sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' "$equivalent")

# A file of mutant names, one a line; 0 when it is missing.
count() {
    if [ -f "$1" ]; then grep -c . "$1" || true; else echo 0; fi
}

failed=0
: >"$work/missed-all.txt"
for run in "${runs[@]}"; do
    out="$work/$run"
    rm -rf "$out"
    mkdir -p "$out"
    args=(--in-place --dir "$src" --output "$out" --no-shuffle)
    case $run in
        unit) ;;
        broker)
            # A broker for the integration test (tests/it starts its own from the tools cache).
            "$here/install-broker.sh"
            args+=(--config "$src/.cargo/mutants-broker.toml")
            ;;
    esac
    say "== cargo-mutants $version, $run run (cargo-mutants ${args[*]} ${extra[*]})"
    start=$(date +%s)
    rc=0
    "$mutants" mutants "${args[@]}" "${extra[@]}" || rc=$?
    seconds=$(($(date +%s) - start))
    report="$out/mutants.out"
    # 0: all caught; 2: some missed; 3: some timed out (and none missed). Anything else
    # (1: bad usage, 4: the unmutated tree failed its tests) is the run's own failure.
    case $rc in
        0 | 2 | 3) ;;
        *)
            say "$run run: cargo-mutants failed (exit $rc); its log is in $report/debug.log"
            failed=1
            continue
            ;;
    esac
    [ -f "$report/missed.txt" ] || {
        say "$run run: no report in $report (listed only?)"
        continue
    }
    caught=$(count "$report/caught.txt")
    missed=$(count "$report/missed.txt")
    unviable=$(count "$report/unviable.txt")
    timeouts=$(count "$report/timeout.txt")
    tested=$((caught + missed + unviable + timeouts))
    unlisted=$(grep -vxF -f <(printf '%s\n' "$listed") "$report/missed.txt" || true)
    equivalents=$((missed - $(printf '%s' "$unlisted" | grep -c . || true)))
    say "$run run: $tested mutants tested in ${seconds}s: $caught caught, $missed missed ($equivalents listed as equivalent), $unviable unviable, $timeouts timeouts"
    if [ -n "$unlisted" ]; then
        say "$run run: missed, and not listed in deploy/mutants-equivalent.txt (kill each with a test, or list it with the reason it changes nothing):"
        sed 's/^/  /' <<<"$unlisted" >&2
        failed=1
    fi
    cat "$report/missed.txt" >>"$work/missed-all.txt"
done
# An equivalent that no run missed any more (caught now, or its line moved): say so, once both
# runs covered everything.
if [ ${#runs[@]} -eq 2 ] && [ ${#extra[@]} -eq 0 ] && [ -n "$listed" ]; then
    stale=$(grep -vxF -f "$work/missed-all.txt" <<<"$listed" || true)
    if [ -n "$stale" ]; then
        say "listed as equivalent in deploy/mutants-equivalent.txt but not missed (caught now, or moved: update the list):"
        sed 's/^/  /' <<<"$stale" >&2
    fi
fi
if [ "$failed" -ne 0 ]; then
    die "mutation testing failed (see above)"
fi
