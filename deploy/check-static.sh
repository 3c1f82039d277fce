#!/usr/bin/env bash
# Builds and checks the static release binaries for x86_64 and aarch64 (musl):
#   - `file` says static and `ldd` finds nothing dynamic; sizes and `--version` are printed;
#   - each binary runs `serve` inside an empty root folder (nothing in it but the binary, and
#     qemu-aarch64-static for the aarch64 one: no /etc, no certificates, no resolver files)
#     against a fresh local broker reached by IP: /health answers, a registration over HTTP
#     becomes a `user.registered` event that the librdkafka peer reads, SIGTERM stops it with
#     status 0;
#   - the x86_64 run reports its start-up time to a ready /health and its idle resident memory.
#
#   deploy/check-static.sh [TARGET...]    # default: both targets
#
# Figures go to stderr and to target/static-report.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
report=target/static-report.txt
mkdir -p target
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

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

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

run_in_empty_root() {
    local target=$1 bin=$2 root="$work/root-$1" runner=() enter=() broker port t0 url id
    mkdir -p "$root"
    cp "$bin" "$root/usercenter"
    if [ "$target" = aarch64-unknown-linux-musl ]; then
        cp "$(command -v qemu-aarch64-static)" "$root/qemu-aarch64-static"
        runner=(/qemu-aarch64-static)
    fi
    if [ "$(id -u)" -eq 0 ]; then
        enter=(chroot "$root")
    else
        enter=(unshare --map-root-user --root "$root")
    fi
    note "$target: --version in an empty root: $("${enter[@]}" "${runner[@]}" /usercenter --version)"

    broker=$("$here/broker.sh" start "$work/broker")
    port=$(free_port)
    url="http://127.0.0.1:$port/health"
    t0=$(date +%s%N)
    "${enter[@]}" "${runner[@]}" /usercenter serve --brokers "$broker" \
        --listen "127.0.0.1:$port" --data-dir /data >"$work/$target.log" 2>&1 &
    pid=$!
    local health_ms="" ready_ms="" body=""
    for _ in $(seq 3000); do
        kill -0 "$pid" 2>/dev/null || { cat "$work/$target.log" >&2; die "$target: serve exited in the empty root"; }
        if body=$("$probe" healthcheck --url "$url" --timeout-secs 1 2>/dev/null); then
            [ -n "$health_ms" ] || health_ms=$(ms_since "$t0")
            case "$body" in *'"kafka":"ready"'*) ready_ms=$(ms_since "$t0"); break ;; esac
        fi
        sleep 0.01
    done
    [ -n "$ready_ms" ] || { cat "$work/$target.log" >&2; die "$target: /health never said Kafka is ready"; }
    note "$target: in an empty root, /health answered after $health_ms ms, Kafka ready after $ready_ms ms"
    sleep 2
    local rss
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    if [ "$target" = x86_64-unknown-linux-musl ]; then
        note "$target: idle resident memory $((rss / 1024)).$(((rss % 1024) * 10 / 1024)) MiB ($rss KiB)"
    fi

    id=$(register "$port") || die "$target: registration over HTTP failed"
    "$PEER_PY" tests/peer/peer.py --brokers "$broker" consume --topic user.events --expect 1 --timeout 60 |
        peer_saw_registration "$id" || die "$target: the peer read no user.registered for $id"
    note "$target: registration $id read back by librdkafka as user.registered"

    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    pid=""
    [ "$rc" -eq 0 ] || { tail -n 20 "$work/$target.log" >&2; die "$target: exit status $rc after SIGTERM"; }
    "$here/broker.sh" stop "$work/broker" >/dev/null 2>&1
    rm -rf "$work/broker"
}

for target in "${targets[@]}"; do
    bin=$("$here/build-static.sh" "$target")
    check_static "$target" "$bin"
    run_in_empty_root "$target" "$bin"
done
say "static binaries ok; figures in $report"
