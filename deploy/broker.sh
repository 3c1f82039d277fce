#!/usr/bin/env bash
# Starts and stops a local Nisshi broker on a free loopback port.
#
#   deploy/broker.sh start STATE_DIR [STORAGE_URL]   # memory:// by default, or sqlite://FILE
#                                                    # (FILE is relative to STATE_DIR)
#   deploy/broker.sh stop STATE_DIR
#
# `start` waits until the broker answers a metadata request, prints its HOST:PORT on stdout and
# keeps its pid, address and log in STATE_DIR. `stop` ends exactly that pid (never by name), and
# only while it still runs $NISSHI_BIN: a pid file left by a killed run or from before a reboot
# is stale (its pid may belong to an unrelated process by now), and is removed instead.
# The broker runs in a session of its own, so a ctrl-c in the terminal does not end it: the
# caller stops it (an EXIT trap), after its clients are done with it. With BROKER_SESSION=caller
# (for scripts, which have no terminal) it stays in the caller's process group instead, so that a
# CI job killed with its process group takes the broker with it rather than leaving it running.
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

# Whether pid $1 runs the broker binary this script starts ($NISSHI_BIN), from /proc/PID/exe.
# A process of another user cannot be read there, and is not ours either.
is_broker() {
    local pid=$1 exe bin
    [[ "$pid" =~ ^[1-9][0-9]*$ ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    # A binary replaced on disk (a reinstall) while the broker runs reads "PATH (deleted)".
    exe=${exe% (deleted)}
    bin=$(readlink -f "$NISSHI_BIN" 2>/dev/null) || bin=$NISSHI_BIN
    [ "$exe" = "$bin" ] || [ "$exe" = "$NISSHI_BIN" ]
}

# The pid in STATE_DIR/broker.pid when that process is still the broker; otherwise removes the
# stale pid file and prints nothing.
broker_pid() {
    local pid
    [ -f "$state/broker.pid" ] || return 0
    pid=$(cat "$state/broker.pid" 2>/dev/null || true)
    if is_broker "$pid"; then
        echo "$pid"
    else
        say "removing the stale $state/broker.pid (pid ${pid:-none} is not a running broker)"
        rm -f "$state/broker.pid"
    fi
}

case "$cmd" in
start)
    [ -x "$NISSHI_BIN" ] || die "broker not installed; run deploy/install-deps.sh"
    mkdir -p "$state"
    pid=$(broker_pid)
    if [ -n "$pid" ]; then
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
    session=(setsid)
    [ "${BROKER_SESSION:-own}" = caller ] && session=()
    (cd "$state" && exec "${session[@]}" "$NISSHI_BIN" broker \
        --listener-url "tcp://$addr" \
        --advertised-listener-url "tcp://$addr" \
        --storage-engine "$storage" "${tls_args[@]}" \
        </dev/null >broker.log 2>&1) &
    pid=$!
    echo "$pid" >"$state/broker.pid"
    echo "$addr" >"$state/broker.addr"
    # Until it is ready and handed over, the broker is ours to end: a ctrl-c no longer does it.
    trap 'kill "$pid" 2>/dev/null || true; rm -f "$state/broker.pid"' EXIT
    # The broker's exit is watched beside the wait, so that one that could not start (its
    # port taken meanwhile, a bad TLS folder) fails at once with its log.
    "$PEER_PY" "$here/../tests/peer/peer.py" --brokers "$addr" "${peer_tls[@]}" wait-ready --timeout 30 >/dev/null &
    waiter=$!
    while kill -0 "$waiter" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            kill "$waiter" 2>/dev/null || true
            tail -n 20 "$state/broker.log" >&2
            die "broker exited before it answered on $addr (log: $state/broker.log)"
        fi
        sleep 0.1
    done
    if ! wait "$waiter"; then
        tail -n 20 "$state/broker.log" >&2
        die "broker did not answer on $addr within 30 s (log: $state/broker.log)"
    fi
    # Another broker may have answered on the port this one could not bind.
    sleep 0.1
    if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 20 "$state/broker.log" >&2
        die "broker exited after $addr answered: another process has the port (log: $state/broker.log)"
    fi
    trap - EXIT
    say "broker (pid $pid, $storage${tls_dir:+, TLS}) ready on $addr"
    echo "$addr"
    ;;
stop)
    # Callers stop the broker on their way out, often after a ctrl-c: another one (or the
    # terminal closing) must not cut this short and leave the broker running.
    trap '' INT TERM HUP
    pid=$(broker_pid)
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        # is_broker, not kill -0: once the broker is gone its pid may be reused.
        for _ in $(seq 50); do is_broker "$pid" || break; sleep 0.1; done
        is_broker "$pid" && kill -KILL "$pid" 2>/dev/null || true
        say "broker (pid $pid) stopped"
    fi
    rm -f "$state/broker.pid"
    ;;
*) usage ;;
esac
