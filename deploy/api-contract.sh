#!/usr/bin/env bash
# The API contract: schemathesis generates requests from src/http/openapi.yaml (as the service
# serves it at /openapi.yaml) and checks every answer against it, with all its checks: status
# codes, content types, headers (Allow on 405) and bodies as documented, schema-valid requests
# accepted (positive mode), schema-invalid ones rejected (negative mode), no 5xx, and stateful
# sequences over the document's links (register -> the user's own operations). Exits non-zero
# on any finding.
#
#   deploy/api-contract.sh [--release]
#
# Starts a local Nisshi broker (deploy/broker.sh) and the service (debug build, or release with
# --release) on free loopback ports, registers a user whose token authenticates the requests
# (and another for the logout, which ends its token's session), and stops both at the end. A
# bounded number of examples keeps it within about 3 minutes on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

"$here/install-schemathesis.sh"
profile=debug
[ "${1:-}" = "--release" ] && profile=release
say "building usercenter ($profile)"
# --all-targets: the dev-dependencies complete getrandom's features for the library today.
if [ "$profile" = release ]; then cargo build --release --locked --quiet --all-targets; else cargo build --locked --quiet --all-targets; fi

work=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    "$here/broker.sh" stop "$work/broker" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

broker=$(BROKER_SESSION=caller "$here/broker.sh" start "$work/broker")
port=$(free_port)
base="http://127.0.0.1:$port"
RUST_LOG=warn "$(target_dir)/$profile/usercenter" serve --brokers "$broker" --listen "127.0.0.1:$port" \
    --data-dir "$work/data" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 150); do
    curl -fsS --max-time 2 "$base/health" 2>/dev/null | grep -q '"kafka":"ready"' && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; die "serve exited"; }
    sleep 0.2
done
curl -fsS --max-time 2 "$base/health" | grep -q '"kafka":"ready"' || {
    tail -n 40 "$work/serve.log" >&2
    die "the service never became ready"
}

# The token of a user registered now.
registered() {
    curl -fsS --max-time 30 -H 'Content-Type: application/json' \
        -d "{\"username\":\"$1\",\"email\":\"$1@example.com\",\"password\":\"contract password\"}" \
        "$base/api/v1/users/register" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
token=$(registered contract)
second=$(registered contract-logout)

# A wrong current password is a documented 422 of the password change, not a malformed request:
# schema-valid data may get it there. (Schemathesis accepts 429, which a login gets once the run's
# failed logins from 127.0.0.1 pass auth.login_failures_per_ip, in both checks by default.)
cat >"$work/schemathesis.toml" <<'TOML'
[[operations]]
include-operation-id = "changePassword"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]
TOML

# One run with the token of the registration, one of the logout alone with a token of its own:
# the logout ends the session it is sent with, and the other operations would then get 401s.
contract() {
    local token=$1 phases=$2
    shift 2
    "$TOOLS/schemathesis-venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$base/openapi.yaml" \
        --url "$base" \
        --checks all \
        --mode all \
        --phases "$phases" \
        --max-examples "${API_CONTRACT_EXAMPLES:-40}" \
        --seed 1 \
        --workers 1 \
        --request-timeout 15 \
        --no-color \
        -H "Authorization: Bearer $token" \
        "$@"
}
say "schemathesis against $base/openapi.yaml, every operation but the logout"
contract "$token" examples,coverage,fuzzing,stateful --exclude-operation-id logout
# No stateful phase: no link leads to the logout.
say "schemathesis against $base/openapi.yaml, the logout, with a session of its own"
contract "$second" examples,coverage,fuzzing --include-operation-id logout
