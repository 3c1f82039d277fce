#!/usr/bin/env bash
# Flame graphs of the hot paths, from the `profiling` build (release code with symbols).
#
#   deploy/profile.sh [produce|consume|http|all]   # default all; SVGs land in docs/profiles/
#
# - produce: `usercenter perf produce`, 300,000 records of 100 B, snappy, against a local broker;
# - consume: `usercenter perf consume` of those records (the full loop: decode, dedupe, commit);
# - http:    the `serve` process while the e2e load (register, login, update) runs against it.
# Sampling is `perf record -e cpu-clock --call-graph dwarf` (software event: hardware counters
# are not available in this container; the release code has no frame pointers, hence dwarf).
# inferno (collapse + flamegraph) is built once into the tools cache like the other tools.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

INFERNO_VERSION=0.12.3
INFERNO_ROOT="$TOOLS/inferno-$INFERNO_VERSION"
FREQ=${PROFILE_FREQ:-499}
what=${1:-all}
out="$root/docs/profiles"
work=$(mktemp -d)
trap 'deploy/broker.sh stop "$work/broker" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cd "$root"

command -v perf >/dev/null || die "perf is missing (apt-get install linux-perf)"
if [ ! -x "$INFERNO_ROOT/bin/inferno-flamegraph" ]; then
    say "building inferno $INFERNO_VERSION into $INFERNO_ROOT (once per machine)"
    mkdir -p "$TOOLS"
    cargo install inferno --version "$INFERNO_VERSION" --locked --root "$INFERNO_ROOT" \
        >"$TOOLS/inferno-build.log" 2>&1 || { tail -n 30 "$TOOLS/inferno-build.log" >&2; die "building inferno failed"; }
fi
say "building the profiling binary"
cargo build --profile profiling --bin usercenter >&2
bin="${CARGO_TARGET_DIR:-$root/target}/profiling/usercenter"
mkdir -p "$out"

# perf.data → folded stacks → SVG named $1 (title $2); keeps only the 1% widest frames' detail.
render() {
    local name=$1 title=$2
    perf script -i "$work/$name.data" --no-inline 2>/dev/null |
        "$INFERNO_ROOT/bin/inferno-collapse-perf" >"$work/$name.folded"
    "$INFERNO_ROOT/bin/inferno-flamegraph" --title "$title" --minwidth 0.5 \
        <"$work/$name.folded" >"$out/$name.svg"
    say "$out/$name.svg; top frames (self time):"
    # Self time per leaf frame, the 8 largest.
    awk '{n=$NF; $NF=""; k=split($0,f,";"); leaf=f[k]; gsub(/ +$/,"",leaf); s[leaf]+=n; t+=n}
         END {for (l in s) printf "%5.1f%% %s\n", 100*s[l]/t, l}' "$work/$name.folded" |
        sort -rn | head -8 >&2
}

broker=$(deploy/broker.sh start "$work/broker")
if [ "$what" = produce ] || [ "$what" = consume ] || [ "$what" = all ]; then
    perf record -e cpu-clock -F "$FREQ" --call-graph dwarf,16384 -o "$work/produce.data" -- \
        "$bin" perf produce --brokers "$broker" --topic prof --records 300000 --record-size 100 --codec snappy >&2
    [ "$what" = consume ] || render produce "usercenter perf produce (300k x 100 B, snappy)"
fi
if [ "$what" = consume ] || [ "$what" = all ]; then
    perf record -e cpu-clock -F "$FREQ" --call-graph dwarf,16384 -o "$work/consume.data" -- \
        "$bin" perf consume --brokers "$broker" --topic prof --records 300000 >&2
    render consume "usercenter perf consume (300k x 100 B: decode, dedupe, commit)"
fi
if [ "$what" = http ] || [ "$what" = all ]; then
    # The e2e bench starts the service through a wrapper that records it; perf stops the
    # service when the bench sends the wrapper (now perf) SIGTERM at the end.
    cat >"$work/serve.sh" <<WRAP
#!/bin/sh
exec perf record -e cpu-clock -F $FREQ --call-graph dwarf,16384 -o "$work/http.data" -- "$bin" "\$@"
WRAP
    chmod +x "$work/serve.sh"
    E2E_SERVICE_BIN="$work/serve.sh" cargo bench --bench e2e >&2
    render http "usercenter serve under the e2e load (register, login, update)"
fi
