#!/usr/bin/env bash
# Runs the service on its embedded defaults: installs what is missing, starts a local Nisshi
# broker, builds and runs `usercenter serve` against it. Extra arguments go to `serve`
# (for example `--listen 127.0.0.1:9000`). Ctrl-c stops the service (it finishes its requests,
# commits its offsets and leaves the consumer group) and then the broker; a second ctrl-c kills
# the service instead of waiting for it. The exit status is the service's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

"$here/install-deps.sh" run
# The broker keeps its log in a file beside the service's store (./data, or the folder
# --data-dir or USERCENTER_STORE_DATA_DIR names), so that both outlive a run together: the
# store holds consumer offsets and dedupe marks that name offsets of this log, and a broker
# starting empty under a kept store would leave the consumer waiting past the end of its
# partitions. Remove that folder to start both afresh. (A --config file's store.data_dir is
# not read here: the broker then stays in ./data/broker.)
data_dir=${USERCENTER_STORE_DATA_DIR:-data}
previous=""
for arg in "$@"; do
    [ "$previous" = --data-dir ] && data_dir=$arg
    case "$arg" in --data-dir=*) data_dir=${arg#--data-dir=} ;; esac
    previous=$arg
done
mkdir -p "$data_dir"
data_dir=$(cd "$data_dir" && pwd)
# One run per data folder: a second one would get the first one's broker (broker.sh start
# reuses a running one) and stop it on its way out. This script and the service (which
# inherits the lock) hold it; the broker does not, so that a run killed with SIGKILL leaves
# its broker for the next run to reuse rather than a lock no one releases.
exec 9>"$data_dir/run.lock"
command -v flock >/dev/null || die "flock (util-linux) is needed: it keeps a second run off $data_dir"
flock -n 9 || die "another deploy/run.sh (or its service) is running on $data_dir: stop it, or give this run another --data-dir"
state="$data_dir/broker"
# A store kept from before the broker kept its log here names offsets of a log that is gone.
if [ -f "$data_dir/usercenter.redb" ] && [ ! -f "$state/broker.db" ]; then
    say "warning: $data_dir holds a store but no broker log (a run before the broker kept one):" \
        "its consumer offsets name records that are gone; remove $data_dir to start afresh"
fi
say "building usercenter (release; a few minutes the first time)"
# Not holding the lock: a compiler wrapper's server (sccache) outlives the build.
cargo build --release --locked --quiet 9>&-
# The broker runs in a session of its own (broker.sh), out of reach of the terminal's ctrl-c:
# this trap stops it, on every way out, once the service is done with it. A ctrl-c during the
# trap must not cut it short (broker.sh stop ignores it too), nor its status replace the
# service's.
trap 'trap "" INT TERM; "$here/broker.sh" stop "$state" || true' EXIT
addr=$("$here/broker.sh" start "$state" sqlite://broker.db 9>&-)

# Nisshi does not wake a waiting Fetch when records arrive: it looks at its log again only
# after sleeping half the wait left. The service's own appends prompt a new Fetch at once, so
# its welcome notifications come a few ms after the register answer at any wait; records
# that other clients write (a librdkafka peer, the Go service beside it) are seen at Nisshi's
# next look: about 100 ms later at the service's default of 500 ms (right for Kafka, which
# answers on arrival), 3-5 ms later at 20 ms, for some idle CPU (about 3 % of a core for
# Nisshi and 0.7 % for the service, against 0.4 % and 0.1 % at 500 ms). Only for this local
# broker, and only when not set already (the variable outranks a --config file's
# consumer.fetch_max_wait_ms).
export USERCENTER_CONSUMER_FETCH_MAX_WAIT_MS=${USERCENTER_CONSUMER_FETCH_MAX_WAIT_MS:-20}

say "starting usercenter serve against the broker at $addr (consumer fetch wait" \
    "${USERCENTER_CONSUMER_FETCH_MAX_WAIT_MS} ms, from USERCENTER_CONSUMER_FETCH_MAX_WAIT_MS, over" \
    "any --config file); data in $data_dir (the broker's log in $state); ctrl-c stops"
# In the background, so that this shell can wait for it to finish stopping. On ctrl-c (or a
# SIGTERM to this script) the trap sends it SIGTERM, which it takes like ctrl-c: the terminal's
# own ctrl-c reaches it too, but bash starts a background command with SIGINT ignored, which
# holds until the service sets up its handler.
"$(target_dir)/release/usercenter" serve --brokers "$addr" "$@" &
service=$!
stopping=""
stop_service() {
    if [ -z "$stopping" ]; then
        stopping=1
        say "stopping usercenter: it commits its offsets and leaves the group (ctrl-c again kills it)"
        kill -TERM "$service" 2>/dev/null || true
    else
        say "killing usercenter: it reads its uncommitted records again at the next start"
        kill -KILL "$service" 2>/dev/null || true
    fi
}
trap stop_service INT TERM
# A trapped signal ends `wait` early (status 128+n) while the service still runs: wait again.
# Bash keeps a reaped child's status, so the last `wait` returns it whoever reaped it, and
# `set -e` makes it the script's.
while kill -0 "$service" 2>/dev/null; do
    wait "$service" || true
done
wait "$service"
