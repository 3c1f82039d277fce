#!/usr/bin/env bash
# Runs the service on its embedded defaults: installs what is missing, starts a local Nisshi
# broker, builds and runs `usercenter serve` against it. Extra arguments go to `serve`
# (for example `--listen 127.0.0.1:9000`). Ctrl-c stops the service and then the broker.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

"$here/install-deps.sh"
state="$USERCENTER_CACHE/run"
addr=$("$here/broker.sh" start "$state")
trap '"$here/broker.sh" stop "$state"' EXIT

say "building usercenter (release)"
cargo build --release --locked --quiet
say "starting usercenter serve against the broker at $addr; data in ./data; ctrl-c stops"
target/release/usercenter serve --brokers "$addr" "$@"
