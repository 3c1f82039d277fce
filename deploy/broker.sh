#!/usr/bin/env bash
# Starts and stops a local Nisshi broker on a free loopback port.
#
#   deploy/broker.sh start STATE_DIR [STORAGE_URL]   # memory:// by default, or sqlite://FILE
#                                                    # (FILE is relative to STATE_DIR)
#   deploy/broker.sh stop STATE_DIR
#
# `start` waits until the broker answers a metadata request, prints its HOST:PORT on stdout and
# keeps its pid, address and log in STATE_DIR. `stop` ends exactly that pid (never by name).
# The broker runs in a session of its own, so a ctrl-c in the terminal does not end it: the
# caller stops it (an EXIT trap), after its clients are done with it.
# With BROKER_TLS_DIR set (a folder holding broker.pem, broker.key and ca.pem, as
# `cargo run --example test_certs -- DIR` writes), the broker accepts TLS connections only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

usage() { die "usage: $0 start STATE_DIR [memory://|sqlite://FILE] | stop STATE_DIR"; }
[ $# -ge 2 ] || usage
cmd=$1
state=$2
storage=${3:-memory://usercenter/}

case "$cmd" in
start)
    [ -x "$NISSHI_BIN" ] || die "broker not installed; run deploy/install-deps.sh"
    mkdir -p "$state"
    if [ -f "$state/broker.pid" ] && kill -0 "$(cat "$state/broker.pid")" 2>/dev/null; then
        cat "$state/broker.addr"
        exit 0
    fi
    port=$(free_port)
    addr="127.0.0.1:$port"
    tls_args=() peer_tls=()
    if [ -n "${BROKER_TLS_DIR:-}" ]; then
        tls_dir=$(cd "$BROKER_TLS_DIR" && pwd)
        tls_args=(--cert "$tls_dir/broker.pem" --key "$tls_dir/broker.key")
        peer_tls=(--ssl-ca "$tls_dir/ca.pem")
    fi
    # Nisshi resolves sqlite://FILE against its working directory: the state directory.
    # setsid puts the broker in a session of its own, out of the terminal's foreground process
    # group: a ctrl-c there must reach the clients (the service then commits its offsets and
    # leaves its consumer group, which needs the broker) and not the broker, which whoever
    # started it stops with `stop` afterwards. The subshell is no process group leader, so
    # setsid execs the broker in place and $! is the broker's pid.
    (cd "$state" && exec setsid "$NISSHI_BIN" broker \
        --listener-url "tcp://$addr" \
        --advertised-listener-url "tcp://$addr" \
        --storage-engine "$storage" "${tls_args[@]}" \
        </dev/null >broker.log 2>&1) &
    pid=$!
    echo "$pid" >"$state/broker.pid"
    echo "$addr" >"$state/broker.addr"
    # Until it is ready and handed over, the broker is ours to end: a ctrl-c no longer does it.
    trap 'kill "$pid" 2>/dev/null || true; rm -f "$state/broker.pid"' EXIT
    if ! "$PEER_PY" "$here/../tests/peer/peer.py" --brokers "$addr" "${peer_tls[@]}" wait-ready --timeout 30 >/dev/null; then
        tail -n 20 "$state/broker.log" >&2
        die "broker did not answer on $addr within 30 s (log: $state/broker.log)"
    fi
    trap - EXIT
    say "broker (pid $pid, $storage${tls_dir:+, TLS}) ready on $addr"
    echo "$addr"
    ;;
stop)
    # Callers stop the broker on their way out, often after a ctrl-c: another one (or the
    # terminal closing) must not cut this short and leave the broker running.
    trap '' INT TERM HUP
    [ -f "$state/broker.pid" ] || exit 0
    pid=$(cat "$state/broker.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        say "broker (pid $pid) stopped"
    fi
    rm -f "$state/broker.pid"
    ;;
*) usage ;;
esac
