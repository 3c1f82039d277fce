#!/usr/bin/env bash
# Checks the dependency graph (Cargo.lock, every target in deny.toml) with cargo-deny:
#
#   licenses, bans, sources   always; any error fails the script (--locked: Cargo.lock must be
#                             up to date; works offline once the crates are in the cargo cache)
#   advisories                RustSec database, a git clone from github.com in
#                             $CARGO_HOME/advisory-dbs: fetched with a 60 s timeout; if that fails,
#                             a local copy whose newest entry is at most 90 days old is used; with
#                             neither, the check is skipped with a note. A missing network never
#                             fails the script; a known vulnerability does.
#
# One line per check; the full cargo-deny output is in $TOOLS/deny-CHECK.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

"$here/install-deny.sh"
version=$(sed -n 's/^CARGO_DENY_VERSION=//p' "$here/install-deny.sh")
deny="$TOOLS/cargo-deny-$version/bin/cargo-deny"
[ -x "$deny" ] || die "cargo-deny $version is not at $deny"

# "warning[duplicate]" x7 -> "7 duplicate"
warnings_of() {
    grep -o '^warning\[[a-z-]*\]' "$1" | sed 's/^warning\[\(.*\)\]$/\1/' | sort | uniq -c |
        awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}'
}

# The error diagnostics (and cargo-deny's own [ERROR] lines) of a log, without the warnings.
errors_of() {
    awk '/^(error|warning|note|help)(\[|:)/ { show = ($0 ~ /^error/) }
         /\[ERROR\]/ { show = 1 }
         /^ *[a-z]+ (ok|FAILED): / { show = 0 }
         show' "$1"
}

# Runs `cargo deny check CHECK` with the given cargo-deny flags, prints one summary line; returns
# 1 when the check found errors, 2 when cargo-deny itself failed (no summary line).
run_check() {
    local check=$1
    shift
    local log="$TOOLS/deny-$check.log" rc=0 stats errors warnings
    "$deny" --color never "$@" check --show-stats "$check" >"$log" 2>&1 || rc=$?
    # e.g. "licenses ok: 0 errors, 2 warnings, 186 notes"
    stats=$(sed -n "s/^ *$check \(ok\|FAILED\): \([0-9]*\) errors, \([0-9]*\) warnings.*/\1 \2 \3/p" "$log")
    if [ -z "$stats" ]; then
        errors_of "$log" >&2
        say "$check: cargo-deny failed (exit $rc), full output in $log"
        return 2
    fi
    set -- $stats
    errors=$2
    warnings=$(warnings_of "$log")
    if [ "$1" = ok ] && [ "$rc" -eq 0 ]; then
        say "$check: ok${warnings:+ (warnings: $warnings; see $log)}"
        return 0
    fi
    errors_of "$log" >&2
    say "$check: FAILED, $errors errors${warnings:+ (warnings: $warnings)}; full output in $log"
    return 1
}

say "cargo-deny $version, policy in deny.toml"
failed=()
for check in licenses bans sources; do
    rc=0
    run_check "$check" --locked || rc=$?
    # 2: no crate graph at all (Cargo.lock out of date, crates neither cached nor downloadable)
    [ "$rc" -eq 2 ] && die "cargo deny: could not load the crate graph (see above)"
    [ "$rc" -eq 0 ] || failed+=("$check")
done

# Advisories. The clone is <db-path>/advisory-db-<hash of the URL>; deny.toml keeps the default
# db-path and URL.
db_root="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
max_days=$(sed -n 's/^maximum-db-staleness *= *"P\([0-9]*\)D".*/\1/p' deny.toml)
max_days=${max_days:-90}
fetch_log="$TOOLS/deny-fetch.log"
fetched=no
if timeout 60 "$deny" --color never fetch db >"$fetch_log" 2>&1; then
    fetched=yes
fi
db=""
for d in "$db_root"/advisory-db-*; do
    if [ -d "$d/crates" ] && git -C "$d" rev-parse -q --verify HEAD >/dev/null 2>&1; then
        db=$d
        break
    fi
done
if [ -z "$db" ]; then
    note_summary "cargo deny advisories: skipped, no advisory database reachable (github.com/rustsec/advisory-db)"
else
    # Age of the data = age of its newest commit (upstream commits several times a week). Not
    # .git/FETCH_HEAD's mtime, which cargo-deny uses: a failed `git fetch` rewrites that file, so
    # after one offline run an old clone looks freshly fetched.
    newest_at=$(git -C "$db" show -s --format=%ct HEAD)
    newest=$(date -u -d "@$newest_at" +%F)
    age_days=$((($(date +%s) - newest_at) / 86400))
    if [ "$fetched" = yes ]; then
        note_summary "cargo deny advisories: database fetched (newest entry $newest)"
    elif [ "$age_days" -gt "$max_days" ]; then
        db=""
        note_summary "cargo deny advisories: skipped, github.com/rustsec/advisory-db unreachable and the local database is $age_days days old (newest entry $newest, limit $max_days days)"
    else
        note_summary "cargo deny advisories: github.com unreachable, using the local database ($age_days days old, newest entry $newest)"
    fi
    if [ -n "$db" ]; then
        rc=0
        run_check advisories --locked --offline || rc=$?
        [ "$rc" -eq 2 ] && die "advisories: cargo-deny could not use $db (remove it to skip the check until github.com is reachable)"
        [ "$rc" -eq 0 ] || failed+=(advisories)
    fi
fi

if [ ${#failed[@]} -gt 0 ]; then
    die "cargo deny: ${failed[*]} failed"
fi
