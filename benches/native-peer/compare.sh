#!/usr/bin/env bash
# Speed beside librdkafka (the native peer in this folder), against one local Nisshi broker.
#
#   benches/native-peer/compare.sh [--consume] [--runs 3] [--records 1000000] [--record-size 100]
#
# Producers (the default): `usercenter perf produce` and the peer, both idempotent, acks=all,
# linger 5 ms, unkeyed records. For each row (partitions 1 and 6, codec none and snappy): one
# discarded warm-up run of each producer, then --runs rounds of one run each, alternating which
# goes first (ours first in odd rounds); every run writes a fresh topic on a freshly started
# broker.
#
# Consumers (--consume): for each row, ours writes --records records (with our headers) to a
# fresh topic on a fresh broker; then `usercenter perf consume` (fetch, CRC-32C, the dedupe mark
# per record and one store transaction with the offsets per fetched batch, a fresh store each
# run) and `native-peer consume` (librdkafka, CRC checks on, each record's ce_id header looked
# up, nothing stored) read all of them from the beginning: one discarded warm-up each, then
# --runs rounds, alternating as above.
#
# Progress goes to stderr, a Markdown table to stdout with, per row, the ratios ours/librdkafka
# of the summed records/s and CPU s per M.
#
# The usercenter release binary: $USERCENTER_BIN, else $CARGO_TARGET_DIR/release/usercenter when
# CARGO_TARGET_DIR is set, else target/release/usercenter (build it with
# `cargo build --release --locked`). The peer is built here (release) into
# $NATIVE_PEER_TARGET_DIR (default ~/.cache/usercenter/target/native-peer), outside the clone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../deploy/lib.sh
. "$root/deploy/lib.sh"

usage() { die "usage: $0 [--consume] [--runs N] [--records N] [--record-size BYTES]"; }
runs=3 records=1000000 size=100 mode=produce
while [ $# -gt 0 ]; do
    case "$1" in
    --consume) mode=consume; shift ;;
    --runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
    --records) [ $# -ge 2 ] || usage; records=$2; shift 2 ;;
    --record-size) [ $# -ge 2 ] || usage; size=$2; shift 2 ;;
    -h | --help) usage ;;
    *) usage ;;
    esac
done
for n in "$runs" "$records" "$size"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive whole number"
done

if [ -n "${USERCENTER_BIN:-}" ]; then
    ours=$USERCENTER_BIN
elif [ -n "${CARGO_TARGET_DIR:-}" ]; then
    ours=$CARGO_TARGET_DIR/release/usercenter
else
    ours=$root/target/release/usercenter
fi
[ -x "$ours" ] || die "no usercenter release binary at $ours: build it with" \
    "'cargo build --release --locked' in $root, or point USERCENTER_BIN at one"

peer_target=${NATIVE_PEER_TARGET_DIR:-"$USERCENTER_CACHE/target/native-peer"}
peer=$peer_target/release/native-peer
say "building the native peer (release; the first build compiles librdkafka, a few minutes)"
(cd "$here" && CARGO_TARGET_DIR=$peer_target cargo build --release --locked --quiet) ||
    die "building the native peer failed"

work=$(mktemp -d)
# The broker runs in a session of its own (deploy/broker.sh): stop it on every way out.
trap 'trap "" INT TERM; "$root/deploy/broker.sh" stop "$work/broker" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
# A fresh broker for every run: Nisshi keeps each producer session's state (its last batches
# per partition) for good in one document that it rewrites for every idempotent batch, so on
# a broker that served earlier runs every batch costs more, and more with each run and each
# partition. A run on a fresh broker measures the producers, not how many ran before.
broker=
fresh_broker() {
    [ -z "$broker" ] || "$root/deploy/broker.sh" stop "$work/broker" >/dev/null
    broker=$("$root/deploy/broker.sh" start "$work/broker")
}

# field NAME LINE: the value of NAME=VALUE in LINE.
field() {
    local f
    for f in $2; do
        case "$f" in "$1"=*) echo "${f#*=}"; return 0 ;; esac
    done
    return 1
}

# join VALUE...: the values, comma-separated.
join() {
    local out
    out=$(printf '%s, ' "$@")
    echo "${out%, }"
}

# ratio "A..." "B...": the sum of the As over the sum of the Bs, two decimals.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, " "); for (i = 1; i <= n; i++) s += x[i]
        n = split(b, y, " "); for (i = 1; i <= n; i++) t += y[i]
        if (t > 0) printf "%.2f", s / t; else printf "n/a"
    }'
}

# produce TOOL PARTITIONS CODEC LABEL: one run on a fresh topic; sets $rps and $cpu (records/s
# and CPU seconds per million records) and says how it went.
topics=0
produce() {
    local tool=$1 partitions=$2 codec=$3 label=$4 topic args line errors
    topics=$((topics + 1))
    fresh_broker
    topic="compare-$topics-$tool-p$partitions-$codec"
    args=(--brokers "$broker" --topic "$topic" --partitions "$partitions" --records "$records"
        --record-size "$size" --codec "$codec")
    case "$tool" in
    usercenter) args=("$ours" perf produce "${args[@]}") ;;
    librdkafka) args=("$peer" "${args[@]}") ;;
    esac
    # Both print progress on stderr (kept for a failure) and one summary line on stdout. Ours
    # exits 1 after its summary when records were not delivered: the summary says how many.
    line=$("${args[@]}" 2>"$work/stderr" | tail -n 1) || true
    if ! { rps=$(field records_per_s "$line") && cpu=$(field cpu_s_per_million "$line") &&
        errors=$(field errors "$line"); }; then
        cat "$work/stderr" >&2
        die "$tool failed (no summary line): ${args[*]}"
    fi
    if [ "$errors" != 0 ]; then
        # The records a consumer row reads must all be there: it reads until it has them all.
        [ "$mode" = produce ] || die "$tool had $errors delivery errors on $topic, which the consumers read"
        say "warning: $tool had $errors delivery errors on $topic"
    fi
    say "$partitions partition(s), $codec, $label: $tool $rps records/s, $cpu CPU s per M"
}

# consume TOOL TOPIC LABEL: one read of every record of TOPIC from its beginning; sets $rps and
# $cpu and says how it went.
consume() {
    local tool=$1 topic=$2 label=$3 args line
    args=(--brokers "$broker" --topic "$topic" --records "$records")
    case "$tool" in
    usercenter) args=("$ours" perf consume "${args[@]}") ;;
    librdkafka) args=("$peer" consume "${args[@]}") ;;
    esac
    if ! line=$("${args[@]}" 2>"$work/stderr" | tail -n 1); then
        cat "$work/stderr" >&2
        die "$tool failed: ${args[*]}"
    fi
    if ! { rps=$(field records_per_s "$line") && cpu=$(field cpu_s_per_million "$line"); }; then
        die "$tool printed no summary line: '$line'"
    fi
    say "$topic, $label: $tool $rps records/s, $cpu CPU s per M"
}

# row PARTITIONS CODEC: one row of the table, runs alternating, after a warm-up of each.
row() {
    local partitions=$1 codec=$2 topic="" run order tool
    ours_rps=() ours_cpu=() peer_rps=() peer_cpu=()
    if [ "$mode" = consume ]; then
        # The records to read, written once by ours (so they carry our headers).
        produce usercenter "$partitions" "$codec" "the records to read"
        topic="compare-$topics-usercenter-p$partitions-$codec"
        consume usercenter "$topic" "warm-up (discarded)"
        consume librdkafka "$topic" "warm-up (discarded)"
    else
        produce usercenter "$partitions" "$codec" "warm-up (discarded)"
        produce librdkafka "$partitions" "$codec" "warm-up (discarded)"
    fi
    for run in $(seq "$runs"); do
        if [ $((run % 2)) = 1 ]; then order=(usercenter librdkafka); else order=(librdkafka usercenter); fi
        for tool in "${order[@]}"; do
            if [ "$mode" = consume ]; then
                consume "$tool" "$topic" "run $run/$runs"
            else
                produce "$tool" "$partitions" "$codec" "run $run/$runs"
            fi
            if [ "$tool" = usercenter ]; then
                ours_rps+=("$rps") ours_cpu+=("$cpu")
            else
                peer_rps+=("$rps") peer_cpu+=("$cpu")
            fi
        done
    done
}

table=("| partitions | codec | ${mode}r | records/s (runs) | CPU s per M (runs) |"
    "|---:|---|---|---|---|")
for partitions in 1 6; do
    for codec in none snappy; do
        row "$partitions" "$codec"
        table+=("| $partitions | $codec | usercenter | $(join "${ours_rps[@]}") | $(join "${ours_cpu[@]}") |")
        table+=("| $partitions | $codec | librdkafka | $(join "${peer_rps[@]}") | $(join "${peer_cpu[@]}") |")
        table+=("| $partitions | $codec | **ours/librdkafka** | **$(ratio "${ours_rps[*]}" "${peer_rps[*]}")** | **$(ratio "${ours_cpu[*]}" "${peer_cpu[*]}")** |")
    done
done

if [ "$mode" = consume ]; then
    echo "$records records of $size B per run, written once per row by ours on a fresh broker, read" \
        "by each consumer from the beginning; runs per consumer: $runs, after a discarded warm-up;" \
        "Nisshi $NISSHI_VERSION (memory storage); ratios of the sums over the runs."
else
    echo "$records records of $size B per run; runs per producer: $runs, after a discarded warm-up;" \
        "Nisshi $NISSHI_VERSION (memory storage), started afresh for each run; ratios of the sums over the runs."
fi
echo
printf '%s\n' "${table[@]}"
