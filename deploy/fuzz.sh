#!/usr/bin/env bash
# Runs the fuzz targets with libFuzzer (cargo-fuzz, nightly).
#
#   deploy/fuzz.sh [SECONDS] [TARGET...]     # default: 600 s each, every target
#
# Each target starts from its committed seeds (fuzz/seeds/TARGET) and keeps what it finds in
# fuzz/corpus/TARGET (not committed). Memory is capped at 512 MiB (-rss_limit_mb) and inputs at
# 64 KiB (-max_len). A crash stops the run and leaves its input in fuzz/artifacts/TARGET.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/../fuzz"

seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(envelope_postcard envelope_json envelope_structured headers record_batch http_bodies config
        response_init_producer_id response_find_coordinator response_join_group response_sync_group
        response_heartbeat response_leave_group response_offset_commit response_offset_fetch
        response_describe_groups response_list_groups fetched_records)
fi
"$here/install-fuzz.sh"
export PATH="$TOOLS/cargo-fuzz-0.13.2/bin:$PATH"
say "building the fuzz targets (nightly, sanitizer)"
# Locked like the crate: cargo-fuzz has no --locked, so a locked fetch first fails on a
# fuzz/Cargo.lock that does not match the manifests, before cargo fuzz could rewrite it.
cargo +nightly fetch --locked --quiet 2>"$TOOLS/fuzz-build.log" || { cat "$TOOLS/fuzz-build.log" >&2; die "fuzz/Cargo.lock is stale: run cargo +nightly fetch in fuzz/ and commit it"; }
cargo +nightly fuzz build -O >/dev/null 2>"$TOOLS/fuzz-build.log" || { tail -n 30 "$TOOLS/fuzz-build.log" >&2; die "fuzz build failed"; }
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log=$(mktemp)
    say "fuzzing $t for ${seconds} s"
    [ -d "seeds/$t" ] || die "$t: no seed directory fuzz/seeds/$t (commit at least one seed input)"
    if ! cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=512 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "$t: the fuzzer found a failure (input in fuzz/artifacts/$t)"
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1)
    say "$t: ok, $execs runs, $speed exec/s, $cov"
    rm -f "$log"
done
