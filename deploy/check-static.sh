#!/usr/bin/env bash
# Builds and checks the static release binaries for x86_64 and aarch64 (musl):
#   - `file` says static and `ldd` finds nothing dynamic; sizes and `--version` are printed;
#   - each binary runs `serve` inside an empty root folder (nothing in it but the binary, and
#     qemu-aarch64-static for the aarch64 one: no /etc, no certificates, no resolver files)
#     against a fresh local broker reached by IP: /health answers, a registration over HTTP
#     becomes a `user.registered` event that the librdkafka peer reads, SIGTERM stops it with
#     status 0;
#   - the x86_64 binary also over TLS from the empty root (the CA file is the only other file
#     there), and without a CA file its compiled-in roots are shown to be the ones in use;
#   - the x86_64 run reports its start-up time to a ready /health and its idle resident memory.
#
#   deploy/check-static.sh [TARGET...]    # default: both targets
#
# Figures go to stderr and to static-report.txt in the build directory (target/ or the cache).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
report="$(target_dir)/static-report.txt"
mkdir -p "$(target_dir)"
: >"$report"
note() {
    say "$*"
    echo "$*" >>"$report"
}

work=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    "$here/broker.sh" stop "$work/broker" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# The x86_64 binary also serves as the health probe from outside the empty root.
probe=$("$here/build-static.sh" x86_64-unknown-linux-musl)

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

check_static() {
    local target=$1 bin=$2 info
    info=$(file -L "$bin")
    case "$info" in
    *"statically linked"* | *"static-pie linked"*) ;;
    *) die "$target: not a static binary: $info" ;;
    esac
    case "$info" in *"not stripped"*) die "$target: not stripped: $info" ;; esac
    if [ "$target" = x86_64-unknown-linux-musl ] && ldd "$bin" >/dev/null 2>&1 &&
        ! ldd "$bin" 2>&1 | grep -q 'not a dynamic executable\|statically linked'; then
        die "$target: ldd lists dynamic dependencies: $(ldd "$bin" 2>&1)"
    fi
    note "$target: static, stripped, $(($(stat -c %s "$bin") / 1024)) KiB ($bin)"
}

# Registers a user over HTTP on PORT; prints the new user's id.
register() {
    python3 - "$1" <<'PY'
import json, sys, urllib.request
body = {"username": "rootless", "email": "rootless@example.com", "password": "correct horse battery"}
req = urllib.request.Request(
    f"http://127.0.0.1:{sys.argv[1]}/api/v1/users/register",
    data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
print(json.load(urllib.request.urlopen(req, timeout=120))["user"]["id"])
PY
}

# True when the peer's JSON on stdin holds a user.registered record keyed by user id $1.
peer_saw_registration() {
    python3 -c '
import json, sys
want = sys.argv[1].encode().hex()
records = json.load(sys.stdin)["records"]
ok = any(r["key"] == want and r["headers"].get("ce_type") == b"user.registered".hex() for r in records)
sys.exit(0 if ok else 1)' "$1"
}

# Sets up the empty root folder $1 holding the binary $2 of target $3 (and qemu-aarch64-static
# for aarch64); sets `enter` (chroot, or unshare when not root) and `runner` (the emulator).
enter=() runner=()
make_root() {
    local root=$1 bin=$2 target=$3
    mkdir -p "$root"
    cp "$bin" "$root/usercenter"
    runner=()
    if [ "$target" = aarch64-unknown-linux-musl ]; then
        cp "$(command -v qemu-aarch64-static)" "$root/qemu-aarch64-static"
        runner=(/qemu-aarch64-static)
    fi
    # Absolute paths: the runs below have an empty environment (env -i), so no PATH search.
    if [ "$(id -u)" -eq 0 ]; then
        enter=("$(command -v chroot)" "$root")
    else
        enter=("$(command -v unshare)" --map-root-user --root "$root")
    fi
}

# Starts `serve` in the root set up by make_root against broker $1, logging to $2, with only the
# environment given after them (VAR=VALUE...; nothing of ours leaks in, as in an empty image);
# sets `pid`, `port` and `t0`.
port="" t0=""
start_serve() {
    local broker=$1 log=$2
    shift 2
    port=$(free_port)
    t0=$(date +%s%N)
    env -i PATH=/ "$@" "${enter[@]}" "${runner[@]}" /usercenter serve --brokers "$broker" \
        --listen "127.0.0.1:$port" --data-dir /data >"$log" 2>&1 &
    pid=$!
}

# Polls /health until it answers and, with $2 = ready, until it says Kafka is ready; sets
# `health_ms` and `ready_ms` (milliseconds since start_serve). Dies after 30 s.
health_ms="" ready_ms=""
wait_health() {
    local log=$1 want=$2 body="" deadline=$(( $(date +%s) + 30 ))
    health_ms="" ready_ms=""
    # By the clock: a service that takes connections and never answers costs each try its
    # 1 s timeout.
    while [ "$(date +%s)" -lt "$deadline" ]; do
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "serve exited in the empty root"; }
        if body=$("$probe" healthcheck --url "http://127.0.0.1:$port/health" --timeout-secs 1 2>/dev/null); then
            [ -n "$health_ms" ] || health_ms=$(ms_since "$t0")
            [ "$want" = ready ] || return 0
            case "$body" in *'"kafka":"ready"'*) ready_ms=$(ms_since "$t0") && return 0 ;; esac
        fi
        sleep 0.01
    done
    cat "$log" >&2
    die "/health never answered${want:+ with Kafka $want}"
}

# Registers a user over HTTP and has the librdkafka peer (extra peer flags after the broker)
# read the user.registered event back.
registration_reaches_kafka() {
    local label=$1 broker=$2 id
    shift 2
    id=$(register "$port") || die "$label: registration over HTTP failed"
    "$PEER_PY" tests/peer/peer.py --brokers "$broker" "$@" consume --topic user.events --expect 1 --timeout 60 |
        peer_saw_registration "$id" || die "$label: the peer read no user.registered for $id"
    note "$label: registration $id read back by librdkafka as user.registered"
}

# SIGTERM, and the service must exit 0, within 60 s (its shutdown steps take at most about
# 30 s); past that it is killed and the step fails.
stop_serve() {
    local log=$1 rc=0
    kill -TERM "$pid"
    for _ in $(seq 600); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=""
        tail -n 20 "$log" >&2
        die "still running 60 s after SIGTERM (killed)"
    fi
    wait "$pid" || rc=$?
    pid=""
    [ "$rc" -eq 0 ] || { tail -n 20 "$log" >&2; die "exit status $rc after SIGTERM"; }
}

stop_broker() {
    "$here/broker.sh" stop "$work/broker" >/dev/null 2>&1
    rm -rf "$work/broker"
}

run_in_empty_root() {
    local target=$1 bin=$2 log="$work/$1.log" broker rss
    make_root "$work/root-$target" "$bin" "$target"
    local version
    version=$(env -i PATH=/ "${enter[@]}" "${runner[@]}" /usercenter --version) ||
        die "$target: --version failed in the empty root"
    note "$target: --version in an empty root: $version"
    broker=$(BROKER_SESSION=caller "$here/broker.sh" start "$work/broker")
    start_serve "$broker" "$log"
    wait_health "$log" ready
    note "$target: in an empty root, /health answered after $health_ms ms, Kafka ready after $ready_ms ms"
    sleep 2
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    if [ "$target" = x86_64-unknown-linux-musl ]; then
        note "$target: idle resident memory $((rss / 1024)).$(((rss % 1024) * 10 / 1024)) MiB ($rss KiB)"
    fi
    registration_reaches_kafka "$target" "$broker"
    stop_serve "$log"
    stop_broker
}

# TLS from the empty root, against a broker with a certificate from a test CA: with the CA file
# (copied into the root, the only file there besides the binary) a registration reaches Kafka;
# without it the compiled-in Mozilla roots are used (nothing is looked up in /etc/ssl) and they
# refuse the test CA, so Kafka never becomes ready.
tls_in_empty_root() {
    local target=$1 bin=$2 certs="$work/certs" log="$work/tls.log" broker
    say "making a test CA and broker certificate (cargo run --example test_certs)"
    cargo run --quiet --locked --example test_certs -- "$certs"
    make_root "$work/root-tls" "$bin" "$target"
    cp "$certs/ca.pem" "$work/root-tls/ca.pem"
    broker=$(BROKER_TLS_DIR="$certs" BROKER_SESSION=caller "$here/broker.sh" start "$work/broker")
    start_serve "$broker" "$log" USERCENTER_KAFKA_SECURITY_PROTOCOL=ssl USERCENTER_KAFKA_TLS_CA_FILE=/ca.pem
    wait_health "$log" ready
    registration_reaches_kafka "$target over TLS" "$broker" --ssl-ca "$certs/ca.pem"
    stop_serve "$log"

    rm -rf "$work/root-tls/data"
    start_serve "$broker" "$log" USERCENTER_KAFKA_SECURITY_PROTOCOL=ssl
    wait_health "$log" ""
    for _ in $(seq 100); do
        grep -q 'UnknownIssuer' "$log" && break
        sleep 0.1
    done
    grep -q 'UnknownIssuer' "$log" || { cat "$log" >&2; die "$target: without the CA file, no UnknownIssuer from the compiled-in roots"; }
    "$probe" healthcheck --url "http://127.0.0.1:$port/health" | grep -q '"kafka":"ready"' &&
        die "$target: Kafka ready although the compiled-in roots cannot know the test CA"
    note "$target over TLS without a CA file: the compiled-in roots refuse the test CA (UnknownIssuer), as they should"
    stop_serve "$log"
    stop_broker
}

for target in "${targets[@]}"; do
    bin=$("$here/build-static.sh" "$target")
    check_static "$target" "$bin"
    run_in_empty_root "$target" "$bin"
    if [ "$target" = x86_64-unknown-linux-musl ]; then
        tls_in_empty_root "$target" "$bin"
    fi
done
say "static binaries ok; figures in $report"
